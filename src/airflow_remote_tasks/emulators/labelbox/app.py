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
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, unquote

from graphql import GraphQLError, GraphQLScalarType, build_schema, graphql_sync

from airflow_remote_tasks.emulators.labelbox.exports import ExportStream
from airflow_remote_tasks.emulators.labelbox.schema import SDL
from airflow_remote_tasks.emulators.labelbox.state import (
    CANCELABLE_TYPES,
    USER_ID,
    LabelboxState,
    Task,
    new_id,
)
from airflow_remote_tasks.emulators.server import (
    REQUEST_BASE_URL,
    AnswerLost,
    EmulatorApp,
    Receive,
    Scope,
    Send,
    link_page,
    read_body,
    send_bytes,
    send_json,
)


class LabelboxError(GraphQLError):
    """An error with Labelbox's ``extensions.code``."""

    def __init__(self, message: str, code: str, **extensions: Any) -> None:
        super().__init__(message, extensions={"code": code, **extensions})


def _schema() -> Any:
    schema = build_schema(SDL)
    for name in ("DateTime", "Json", "UInt64", "Upload"):
        scalar = schema.type_map[name]
        assert isinstance(scalar, GraphQLScalarType)
        scalar.parse_literal = _literal  # type: ignore[method-assign]
    return schema


def _literal(node: Any, variables: Any = None) -> Any:
    from graphql import value_from_ast_untyped

    return value_from_ast_untyped(node, variables)


SCHEMA = _schema()
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
        result = graphql_sync(SCHEMA, query, root_value=Root(self), variable_values=variables)
        payload: dict[str, Any] = {"data": result.data}
        if result.errors:
            payload["errors"] = [_formatted(e) for e in result.errors]
            payload["data"] = None  # Labelbox sends no partial data with errors
        if self.lose_answers.get(operation_of(query), 0) > 0:
            # carried out, and the answer cut short: one operation's, as all of them share POST /graphql
            self.lose_answers[operation_of(query)] -= 1
            body = json.dumps(payload).encode()
            start = [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body) + 64).encode()),
            ]
            await send({"type": "http.response.start", "status": 200, "headers": start})
            await send({"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True})
            raise AnswerLost("emulator fault: answer lost after the call was carried out")
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
        if name == "rows" and method == "POST":
            self.state.add_rows(str(payload["dataset_id"]), int(payload["count"]))
            return {"rows": len(self.state.rows_of(str(payload["dataset_id"])))}
        raise KeyError(name)


class Root:
    """Resolvers of the root fields; graphql-core calls an attribute of the root value with the arguments."""

    def __init__(self, emulator: LabelboxEmulator) -> None:
        self.emulator = emulator
        self.state = emulator.state

    # -- queries -----------------------------------------------------------------------------------

    def user(self, info: Any, where: dict[str, Any] | None = None) -> dict[str, Any] | None:
        user_id = (where or {}).get("id") or USER_ID
        if user_id != USER_ID:
            return None
        owned = [t for t in self.state.tasks.values() if t.owner == USER_ID]
        return {**self.state.user, "createdTasks": self._tasks(owned)}

    def organization(self, info: Any) -> dict[str, Any]:
        return {**self.state.organization, "tasks": self._tasks(list(self.state.tasks.values()))}

    def _tasks(self, tasks: list[Task]) -> Callable[..., list[dict[str, Any]]]:
        def listing(info: Any, where: dict[str, Any] | None = None, skip: int = 0, first: int = 100) -> Any:
            views = [self._task(t) for t in sorted(tasks, key=lambda t: -t.created)]  # newest first
            for key, value in (where or {}).items():
                views = [v for v in views if v.get(key) == value]
            return views[skip : skip + first]

        return listing

    def _task(self, task: Task) -> dict[str, Any]:
        view = self.state.task_view(task)
        view["exportMetadataHeader"] = lambda info, streamType: self._header(task, streamType)
        view["exportFileFromOffset"] = lambda info, streamType, offset: self._part(task, streamType, offset)
        return view

    def _header(self, task: Task, stream: str) -> dict[str, Any] | None:
        if task.status(time.time()) != "COMPLETE" or stream not in task.streams:
            return None
        data = task.streams[stream]
        return {"totalSize": data.size, "totalLines": data.lines}

    def _part(self, task: Task, stream: str, offset: Any) -> dict[str, Any]:
        data = task.streams.get(stream)
        start = int(offset)
        if data is None or start >= data.size:
            raise LabelboxError(f"offset {start} is past the end of the stream", "MALFORMED_REQUEST")
        start, end = self.state.chunk(task, stream, start)
        return {
            "offsets": {"start": str(start), "end": str(end)},
            "lines": {"start": str(data.line_at(start)), "end": str(data.line_at(end))},
            "file": f"{REQUEST_BASE_URL.get()}/_files/{task.id}/{stream}/{start}-{end}",
        }

    def project(self, info: Any, where: dict[str, Any]) -> dict[str, Any] | None:
        found = self.state.project_view(str(where.get("id")))
        if found is None:
            raise LabelboxError("Resource not found", "RESOURCE_NOT_FOUND")
        return found

    def dataset(self, info: Any, where: dict[str, Any]) -> dict[str, Any] | None:
        found = self.state.dataset_view(str(where.get("id")))
        if found is None:
            raise LabelboxError("Resource not found", "RESOURCE_NOT_FOUND")
        return found

    def projects(self, info: Any, where: Any = None, skip: int = 0, first: int = 100) -> list[dict[str, Any]]:
        views = [self.state.project_view(p) for p in self.state.projects]
        return [v for v in views if v][skip : skip + first]

    def datasets(self, info: Any, where: Any = None, skip: int = 0, first: int = 100) -> list[dict[str, Any]]:
        views = [self.state.dataset_view(d) for d in self.state.datasets]
        return [v for v in views if v][skip : skip + first]

    def task(self, info: Any, where: dict[str, Any] | None = None) -> dict[str, Any] | None:
        task = self.state.tasks.get(str((where or {}).get("id")))
        return None if task is None else self._task(task)

    def dataRowsForGlobalKeys(self, info: Any, where: dict[str, Any]) -> dict[str, Any]:
        return {"jobId": self.state.start_lookup([str(key) for key in where["ids"]])}

    def dataRowsForGlobalKeysResult(self, info: Any, jobId: dict[str, Any]) -> dict[str, Any]:
        job = self.state.lookups.get(str(jobId["id"]))
        if job is None:
            raise LabelboxError("Resource not found", "RESOURCE_NOT_FOUND")
        job["reads"] += 1
        if job["reads"] <= self.state.lookup_reads:
            return {"data": None, "jobStatus": "IN_PROGRESS"}
        return {"data": job["data"], "jobStatus": "COMPLETE"}

    def cancelableTaskTypes(self, info: Any) -> list[str]:
        return list(CANCELABLE_TYPES)

    # -- mutations ---------------------------------------------------------------------------------

    def exportDataRowsInProject(self, info: Any, input: dict[str, Any]) -> dict[str, Any]:
        filters = input.get("filters") or {}
        project_id = str(filters.get("projectId") or "")
        project = self.state.projects.get(project_id)
        if project is None:
            raise LabelboxError("Resource not found", "RESOURCE_NOT_FOUND")
        return self._export(input, self.state.export(project_id, project["dataset_id"], filters))

    def exportDataRowsInCatalog(self, info: Any, input: dict[str, Any]) -> dict[str, Any]:
        filters = input.get("filters") or {}
        query = (filters.get("searchQuery") or {}).get("query") or []
        scope = query[-1] if query else {}
        dataset_id = (scope.get("ids") or [""])[0] if scope.get("type") == "dataset" else ""
        if dataset_id not in self.state.datasets:
            raise LabelboxError("Resource not found", "RESOURCE_NOT_FOUND")
        return self._export(input, self.state.export(None, dataset_id, filters))

    def _export(self, input: dict[str, Any], lines: ExportStream) -> dict[str, Any]:
        task = self.state.start_task(
            str(input.get("taskName") or "Export v2"), "export-data-rows", {"RESULT": lines, "ERRORS": b""}
        )
        return {"taskId": task.id, "isStreamable": bool(input.get("streamable"))}

    def successesfulDataRowImports(self, info: Any, data: dict[str, Any]) -> dict[str, Any]:
        rows, after = self._page(self._upsert_task(data).succeeded, data)
        return {"nodes": rows, "after": after, "total": len(self._upsert_task(data).succeeded)}

    def failedDataRowImports(self, info: Any, data: dict[str, Any]) -> dict[str, Any]:
        rows, after = self._page(self._upsert_task(data).failed, data)
        return {"results": rows, "after": after, "total": len(self._upsert_task(data).failed)}

    def _upsert_task(self, data: dict[str, Any]) -> Task:
        task = self.state.tasks.get(str(data["taskId"]))
        if task is None or task.type != "adv-upsert-data-rows":
            raise LabelboxError("Resource not found", "RESOURCE_NOT_FOUND")
        return task

    @staticmethod
    def _page(rows: list[dict[str, Any]], data: dict[str, Any]) -> tuple[list[dict[str, Any]], str | None]:
        start = int(data.get("from") or 0)
        first = int(data.get("first") or 100)
        after = str(start + first) if start + first < len(rows) else None
        return rows[start : start + first], after

    def uploadFile(self, info: Any, file: str, contentLength: int, sign: bool = False) -> dict[str, Any]:
        upload_id = str(file).removeprefix("upload:")
        if upload_id not in self.state.uploads:
            raise LabelboxError("The file part is missing from the multipart request", "MALFORMED_REQUEST")
        return {"url": f"{REQUEST_BASE_URL.get()}/_files/uploads/{upload_id}", "filename": upload_id}

    def upsertDataRows(self, info: Any, data: dict[str, Any]) -> dict[str, Any]:
        try:
            manifest = json.loads(self._uploaded(data["manifestUri"]))
            items = [item for uri in manifest["chunk_uris"] for item in json.loads(self._uploaded(uri))]
        except (ValueError, KeyError, TypeError) as error:
            raise LabelboxError(f"Bad manifest: {error}", "MALFORMED_REQUEST") from None
        done, refused = self.state.upsert(items)
        task = self.state.start_task("Upsert data rows", "adv-upsert-data-rows", {})
        task.succeeded, task.failed = done, refused
        return self._task(task)

    def _uploaded(self, url: str) -> bytes:
        return self.state.uploads[str(url).rsplit("/", 1)[1]]

    def labelImport(self, info: Any, where: dict[str, Any]) -> dict[str, Any] | None:
        return self._import_view("label", where["projectId"], where["name"])

    def modelAssistedLabelingPredictionImport(
        self, info: Any, where: dict[str, Any]
    ) -> dict[str, Any] | None:
        return self._import_view("prediction", where["projectId"], where["name"])

    def createLabelImport(self, info: Any, data: dict[str, Any]) -> dict[str, Any] | None:
        return self._create_import("label", data)

    def createModelAssistedLabelingPredictionImport(
        self, info: Any, data: dict[str, Any]
    ) -> dict[str, Any] | None:
        return self._create_import("prediction", data)

    def _create_import(self, kind: str, data: dict[str, Any]) -> dict[str, Any] | None:
        project_id = str(data["projectId"])
        if project_id not in self.state.projects:
            raise LabelboxError("Resource not found", "RESOURCE_NOT_FOUND")
        payload = data.get("filePayload")
        if not payload:
            raise LabelboxError("This emulator takes imports as files (filePayload)", "MALFORMED_REQUEST")
        content = self.state.uploads.get(str(payload["file"]).removeprefix("upload:"))
        if content is None:
            raise LabelboxError("The file part is missing from the multipart request", "MALFORMED_REQUEST")
        try:
            self.state.start_import(kind, project_id, str(data["name"]), content)
        except ValueError as error:
            raise LabelboxError(f"The import file is not NDJSON: {error}", "MALFORMED_REQUEST") from None
        return self._import_view(kind, project_id, str(data["name"]))

    def _import_view(self, kind: str, project_id: str, name: str) -> dict[str, Any] | None:
        found = self.state.imports.get((kind, project_id, name))
        if found is None:
            return None
        elapsed = time.time() - found["created"]
        running = elapsed < found["seconds"]
        base = f"{REQUEST_BASE_URL.get()}/_files/uploads/"
        files = {key: None if running else base + upload_id for key, upload_id in found["files"].items()}
        percent = min(100, int(100 * elapsed / max(found["seconds"], 1e-6)))
        return {
            "id": found["id"],
            "name": name,
            "state": "RUNNING" if running else "FINISHED",
            "progress": f"{percent}%",
            **files,
            "project": self.state.project_view(project_id),
        }

    def cancelBulkOperationJob(self, info: Any, id: str) -> dict[str, Any]:
        task = self.state.tasks.get(id)
        if task is None:
            raise LabelboxError("Resource not found", "RESOURCE_NOT_FOUND")
        if task.cancelled_at is None and task.status(time.time()) == "IN_PROGRESS":
            task.cancelled_at = time.time()
        return {"success": True}


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
