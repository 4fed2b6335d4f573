"""A Labelbox GraphQL server on loopback: ``POST /graphql``, export parts at ``/_files/...``, faults.

Queries are parsed and validated with graphql-core against :mod:`.schema` and executed against
:class:`.state.LabelboxState`. Errors come back the way Labelbox sends them: ``{"data": null, "errors":
[{"message", "extensions": {"code"}}]}``, with HTTP 200 for most, 401 for a refused key.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import re
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qs, unquote

from graphql import GraphQLError, graphql_sync

from airflow_remote_tasks.emulators.labelbox.catalog import DEMO_PROJECT_ID, new_id
from airflow_remote_tasks.emulators.labelbox.resolvers import Root
from airflow_remote_tasks.emulators.labelbox.schema import served_schema
from airflow_remote_tasks.emulators.labelbox.state import LabelboxState
from airflow_remote_tasks.emulators.server import (
    EmulatorApp,
    Receive,
    Scope,
    Send,
    link_page,
    read_body,
    send_bytes,
    send_half_then_cut,
    send_json,
)

SCHEMA = served_schema()
OPERATION_NAME = re.compile(r"(?:query|mutation)\s+(\w+)")


class LabelboxEmulator:
    def __init__(
        self, *, api_key: str = "", task_seconds: float = 1.0, chunk_bytes: int = 1 << 20, rows: int = 6
    ) -> None:
        self.api_key = api_key  # empty: any key is accepted (one must still be sent)
        self.state = LabelboxState(task_seconds=task_seconds, chunk_bytes=chunk_bytes, rows=rows)
        self.graphql_errors_next = 0  # the next N calls answer 200 with an error inside
        self.graphql_error = {"code": "INTERNAL_SERVER_ERROR", "status": 503}
        self.operations: list[dict[str, Any]] = []  # every operation received: name, query, variables
        self.lose_answers: dict[str, int] = {}  # operation name -> how many of its next answers are lost
        self.app = EmulatorApp(self._dispatch, _error_body, self._control)

    # -- HTTP --------------------------------------------------------------------------------------

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"]
        if path.startswith("/_files/") and scope["method"] in ("GET", "HEAD"):
            await self._file(path, send)
            return
        if scope["method"] == "GET" and path.startswith(("/tasks", "/projects/", "/catalog/")):
            await self._link(path, scope.get("query_string", b"").decode(), send)
            return
        if path != "/graphql" or scope["method"] != "POST":
            await send_json(send, 404, {"message": f"{scope['method']} {path} is not served here"})
            return
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        token = headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not token or (self.api_key and token != self.api_key):
            await send_json(
                send, 401, {"data": None, "errors": [_error("Invalid API key", "AUTHENTICATION_ERROR")]}
            )
            return
        try:
            raw = await read_body(receive)
            if headers.get("content-type", "").startswith("multipart/form-data"):
                query, variables = self._multipart(headers["content-type"], raw)
            else:
                body = json.loads(raw or b"{}")
                query, variables = str(body["query"]), body.get("variables") or {}
        except (ValueError, KeyError, TypeError):
            await send_json(
                send, 400, {"data": None, "errors": [_error("Bad request body", "MALFORMED_REQUEST")]}
            )
            return
        self.operations.append({"query": query, "variables": variables, "headers": headers})
        if self.graphql_errors_next > 0:
            self.graphql_errors_next -= 1
            code = str(self.graphql_error["code"])
            inner = (
                {"exception": {"status": self.graphql_error["status"]}}
                if "status" in self.graphql_error
                else {}
            )
            await send_json(send, 200, {"data": None, "errors": [_error("injected fault", code, **inner)]})
            return
        result = graphql_sync(SCHEMA, query, root_value=Root(self.state), variable_values=variables)
        payload: dict[str, Any] = {"data": result.data}
        if result.errors:
            payload["errors"] = [_formatted(e) for e in result.errors]
            payload["data"] = None  # Labelbox sends no partial data with errors
        if self.lose_answers.get(operation_of(query), 0) > 0:
            # carried out, and the answer cut short: one operation's, as all of them share POST /graphql
            self.lose_answers[operation_of(query)] -= 1
            json_type = [(b"content-type", b"application/json")]
            await send_half_then_cut(send, 200, json_type, json.dumps(payload).encode())
        await send_json(send, 200, payload)

    def _multipart(self, content_type: str, raw: bytes) -> tuple[str, dict[str, Any]]:
        """A GraphQL multipart request: ``operations``, ``map``, and the files it maps into the variables
        (each stored, and named in the variable by an ``upload:<id>`` marker)."""
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {content_type}\r\n\r\n".encode() + raw
        )
        parts: dict[str, bytes] = {
            str(part.get_param("name", header="content-disposition")): bytes(
                part.get_payload(decode=True) or b""
            )
            for part in message.iter_parts()
        }
        operations = json.loads(parts["operations"])
        variables = operations.get("variables") or {}
        for name, targets in json.loads(parts["map"]).items():
            upload_id = new_id("upload")
            self.state.uploads[upload_id] = parts[name]
            for target in targets:
                variables[target.removeprefix("variables.")] = f"upload:{upload_id}"
        return str(operations["query"]), variables

    async def _file(self, path: str, send: Send) -> None:
        if path.startswith("/_files/uploads/"):
            data = self.state.uploads.get(path.rsplit("/", 1)[1])
            if data is None:
                await send_bytes(send, 404, "text/plain", b"no such file")
            else:
                await send_bytes(send, 200, "application/octet-stream", data)
            return
        # /_files/<task id>/<stream>/<start>-<end>: a signed URL stand-in, served without auth like the real ones
        try:
            _, _, task_id, stream, span = path.split("/", 4)
            start, end = (int(x) for x in span.split("-"))
            export = self.state.tasks[task_id].streams[stream]
        except (ValueError, KeyError):
            await send_bytes(send, 404, "text/plain", b"no such file")
            return
        await send_bytes(send, 200, "application/x-ndjson", export.read(start, end))

    async def _link(self, path: str, query: str, send: Send) -> None:
        """The app pages the provider's links point to (App URL set to this server): a task, a project, a
        dataset, each a small page naming it."""
        kind, _, ident = unquote(path).strip("/").partition("/")
        if kind == "tasks":
            ident = parse_qs(query).get("task", [""])[0]
        page = self.state.link_facts(kind, ident)
        if page is None:
            await send_bytes(send, 404, "text/plain", f"no {kind} {ident!r} on this emulator".encode())
            return
        await send_bytes(send, 200, "text/html; charset=utf-8", link_page(*page))

    def _control(self, method: str, name: str, payload: Any) -> Any:
        if name == "tasks":
            return self.state.summary()
        if name == "operations":
            return [{"query": o["query"], "variables": o["variables"]} for o in self.operations]
        if name == "task-metadata" and method == "POST":
            self.state.task_metadata_projects = bool((payload or {}).get("projects", True))
            return {"projects": self.state.task_metadata_projects}
        if name == "outcomes" and method == "POST":
            self.state.fail_next = int((payload or {}).get("fail_next", 0))
            return {"fail_next": self.state.fail_next}
        if name == "graphql-errors" and method == "POST":
            self.graphql_errors_next = int((payload or {}).get("next", 1))
            self.graphql_error = {k: v for k, v in (payload or {}).items() if k in ("code", "status")} or {
                "code": "INTERNAL_SERVER_ERROR",
                "status": 503,
            }
            return {"next": self.graphql_errors_next}
        if name == "lose-answer" and method == "POST":
            self.lose_answers[str(payload["operation"])] = int(payload.get("next", 1))
            return dict(self.lose_answers)
        if name == "upserts" and method == "POST":
            # the open question of a GKEY spec naming no row: refused (default) or created
            self.state.gkey_creates = bool(payload["gkey_creates"])
            return {"gkey_creates": self.state.gkey_creates}
        if name == "workflow" and method == "POST":
            # rows reach a workflow status (and so have activity, and a label past ToLabel) at a time
            return self.state.set_workflow(
                str(payload.get("project_id") or DEMO_PROJECT_ID),
                [str(x) for x in payload["data_row_ids"]],
                str(payload["status"]),
                at=_time(payload.get("at")),
                label_at=_time(payload.get("label_at")),
            )
        if name == "rows" and method == "POST":
            self.state.add_rows(str(payload["dataset_id"]), int(payload["count"]))
            return {"rows": len(self.state.rows_of(str(payload["dataset_id"])))}
        raise KeyError(name)


def _time(text: Any) -> datetime | None:
    """A control call's ISO 8601 time (UTC without an offset), or None."""
    if not text:
        return None
    moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def operation_of(query: str) -> str:
    """The operation's name (``query GetUserPyApi {...}`` -> ``GetUserPyApi``), or "" for an unnamed one."""
    found = OPERATION_NAME.search(query)
    return found.group(1) if found else ""


def _error(message: str, code: str, **extensions: Any) -> dict[str, Any]:
    return {"message": message, "extensions": {"code": code, **extensions}}


def _formatted(error: GraphQLError) -> dict[str, Any]:
    formatted = error.formatted
    extensions = dict(formatted.get("extensions") or {})
    if "code" not in extensions:
        # graphql-core's own validation and syntax errors: Labelbox's codes for them
        extensions["code"] = (
            "GRAPHQL_PARSE_FAILED" if "Syntax Error" in error.message else "GRAPHQL_VALIDATION_FAILED"
        )
    return {**formatted, "extensions": extensions}


def _error_body(status: int, code: str, message: str) -> tuple[str, bytes]:
    """Injected HTTP faults, as Labelbox words them (a rate limit in the words the SDK looks for)."""
    if status == 429:
        return "application/json", json.dumps({"message": "You have exceeded the rate limit"}).encode()
    return "application/json", json.dumps({"message": f"{status}: {message}"}).encode()
