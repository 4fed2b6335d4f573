"""Flyte's Connect services, served by flyteidl2's generated ASGI applications.

The generated classes own the wire format (Connect unary and streaming, JSON and proto codecs, gzip,
error envelopes), so the emulator is right by construction on the wire; this module supplies state.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, unquote, unquote_plus

from connectrpc.code import Code
from connectrpc.errors import ConnectError
from flyteidl2.auth import auth_service_pb2, identity_pb2
from flyteidl2.auth.auth_service_connect import AuthMetadataServiceASGIApplication
from flyteidl2.auth.identity_connect import IdentityServiceASGIApplication
from flyteidl2.cluster import payload_pb2
from flyteidl2.cluster.service_connect import ClusterServiceASGIApplication
from flyteidl2.dataproxy import dataproxy_service_pb2 as dp
from flyteidl2.dataproxy.dataproxy_service_connect import DataProxyServiceASGIApplication
from flyteidl2.project import project_service_pb2 as ps
from flyteidl2.project.project_service_connect import ProjectServiceASGIApplication
from flyteidl2.task import task_service_pb2 as ts
from flyteidl2.task.task_service_connect import TaskServiceASGIApplication
from flyteidl2.workflow import run_service_pb2 as rs
from flyteidl2.workflow.run_service_connect import RunServiceASGIApplication
from google.protobuf import json_format
from google.protobuf.message import Message

from airflow_remote_tasks.emulators.flyte.state import PROJECTS, EmulatedRun, FlyteState, Rejected
from airflow_remote_tasks.emulators.flyte.tasks import SeedTask, task_spec
from airflow_remote_tasks.emulators.server import (
    REQUEST_BASE_URL,
    ASGIApp,
    EmulatorApp,
    Receive,
    Scope,
    Send,
    link_page,
    read_body,
    send_bytes,
)
from airflow_remote_tasks.platforms.flyte import literals

MAX_PAGE = 200


def to_dict(message: Message) -> dict[str, Any]:
    return json_format.MessageToDict(message)


def from_dict(data: dict[str, Any], message: Message) -> Any:
    return json_format.ParseDict(data, message)


def _error(code: str, message: str) -> ConnectError:
    return ConnectError(Code(code), message)


class _Unimplemented:
    """Methods the emulator does not serve answer ``unimplemented``, as an unknown method would."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)

        async def unimplemented(request: Any, ctx: Any) -> Any:
            raise ConnectError(Code.UNIMPLEMENTED, f"{name} is not implemented by the emulator")

        return unimplemented


class Services(_Unimplemented):
    # Open-source Flyte rejects labels.* filters in ListRuns; Union is said to accept them (unverified): off
    # by default, as open-source Flyte does, and a test covers both answers.
    label_filters = False
    # Where SelectCluster sends data-plane calls: empty, the endpoint the caller used (as OSS does); else another
    # address, as a split data plane on Union may be (whether it takes the same token is not documented).
    data_plane_url = ""
    # The tokenEndpoint GetOAuth2Metadata advertises: empty, the emulator's own /oauth2/token; else any text
    # (another origin, a relative path), as a tenant whose identity provider is elsewhere, or a hostile server.
    token_endpoint = ""

    def __init__(self, state: FlyteState, auth: dict[str, Any]) -> None:
        self.state = state
        self.auth = auth

    # -- TaskService ---------------------------------------------------------------------------

    def _task_dict(self, task: SeedTask, org: str, project: str, domain: str) -> dict[str, Any]:
        return {"org": org, "project": project, "domain": domain, "name": task.name, "version": task.version}

    async def list_tasks(self, request: ts.ListTasksRequest, ctx: Any) -> ts.ListTasksResponse:
        body = to_dict(request)
        project = body.get("projectId", {})
        listing = body.get("request", {})
        names = _equal_filter(listing, "name")
        tasks = [t for t in self.state.tasks if not names or t.name in names]
        tasks = sorted(tasks, key=self.state.task_created_at, reverse=_descending(listing))
        page, token = _page(tasks, listing)
        org = project.get("organization", body.get("org", ""))
        return from_dict(
            {
                "tasks": [
                    {
                        "taskId": self._task_dict(t, org, project.get("name", ""), project.get("domain", "")),
                        "metadata": {
                            "shortName": t.name.split(".")[-1],
                            "environmentName": t.name.split(".")[0],
                            "deployedAt": self.state.task_created_at(t),
                        },
                    }
                    for t in page
                ],
                "token": token,
            },
            ts.ListTasksResponse(),
        )

    async def get_task_details(
        self, request: ts.GetTaskDetailsRequest, ctx: Any
    ) -> ts.GetTaskDetailsResponse:
        task_id = to_dict(request.task_id)
        task = _found(lambda: self.state.find_task(task_id.get("name", ""), task_id.get("version", "")))
        details = {
            "taskId": task_id,
            "metadata": {"shortName": task.name.split(".")[-1], "environmentName": task.name.split(".")[0]},
            "spec": task_spec(task, task_id.get("project", ""), task_id.get("domain", "")),
        }
        return from_dict({"details": details}, ts.GetTaskDetailsResponse())

    # -- RunService ----------------------------------------------------------------------------

    def _inputs_of(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        if "offloadedInputData" in body:
            uri = body["offloadedInputData"].get("uri", "")
            if uri not in self.state.uploads:
                raise _error("invalid_argument", f"offloaded inputs {uri!r} were never uploaded")
            return self.state.uploads[uri]
        return list(body.get("inputs", {}).get("literals", []))

    async def create_run(self, request: rs.CreateRunRequest, ctx: Any) -> rs.CreateRunResponse:
        body = to_dict(request)
        if "taskId" not in body:
            raise _error("invalid_argument", "the emulator runs deployed tasks: set taskId")
        task_id = body["taskId"]
        if "runId" in body:
            run_id = body["runId"]
            org, project, domain, name = (
                run_id.get("org", ""),
                run_id.get("project", ""),
                run_id.get("domain", ""),
                run_id.get("name", ""),
            )
        elif "projectId" in body:
            p = body["projectId"]
            org, project, domain = p.get("organization", ""), p.get("name", ""), p.get("domain", "")
            name = "r" + secrets.token_hex(10)[:19]
        else:
            raise _error("invalid_argument", "one of runId or projectId is required")
        task = _found(lambda: self.state.find_task(task_id.get("name", ""), task_id.get("version", "")))
        labels = body.get("runSpec", {}).get("labels", {}).get("values", {})
        run = _found(
            lambda: self.state.create_run(
                org=org,
                project=project,
                domain=domain,
                name=name,
                task=task,
                input_literals=self._inputs_of(body),
                labels=labels,
            )
        )
        return from_dict({"run": {"action": _action(run)}}, rs.CreateRunResponse())

    def _run_of(self, run_id: dict[str, Any]) -> EmulatedRun:
        return _found(
            lambda: self.state.run(
                run_id.get("project", ""), run_id.get("domain", ""), run_id.get("name", "")
            )
        )

    async def get_run_details(self, request: rs.GetRunDetailsRequest, ctx: Any) -> rs.GetRunDetailsResponse:
        run = self._run_of(to_dict(request.run_id))
        action = run.action_details()
        if (
            self.state.omit_run_error_info
        ):  # as the SDK says Union does: the error is in GetActionDetails only
            action.pop("errorInfo", None)
            for attempt in action["attempts"]:
                attempt.pop("errorInfo", None)
        details = {"runSpec": {"labels": {"values": run.labels}} if run.labels else {}, "action": action}
        return from_dict({"details": details}, rs.GetRunDetailsResponse())

    async def get_action_details(
        self, request: rs.GetActionDetailsRequest, ctx: Any
    ) -> rs.GetActionDetailsResponse:
        action_id = to_dict(request.action_id)
        run = self._action_run(action_id)
        return from_dict({"details": run.action_details()}, rs.GetActionDetailsResponse())

    def _action_run(self, action_id: dict[str, Any]) -> EmulatedRun:
        run = self._run_of(action_id.get("run", {}))
        if action_id.get("name") != "a0":
            raise _error("not_found", f"action {action_id.get('name')!r} not found")
        return run

    async def watch_action_details(
        self, request: rs.WatchActionDetailsRequest, ctx: Any
    ) -> AsyncIterator[rs.WatchActionDetailsResponse]:
        run = self._action_run(to_dict(request.action_id))
        last = None
        while True:
            details = run.action_details()
            if details != last:
                yield from_dict({"details": details}, rs.WatchActionDetailsResponse())
                last = details
            if run.is_terminal():
                return
            await asyncio.sleep(0.05)

    async def abort_run(self, request: rs.AbortRunRequest, ctx: Any) -> rs.AbortRunResponse:
        run_id = to_dict(request.run_id)
        _found(
            lambda: self.state.abort(
                run_id.get("project", ""), run_id.get("domain", ""), run_id.get("name", ""), request.reason
            )
        )
        return rs.AbortRunResponse()

    async def list_runs(self, request: rs.ListRunsRequest, ctx: Any) -> rs.ListRunsResponse:
        body = to_dict(request)
        project = body.get("projectId", {})
        listing = body.get("request", {})
        labels = {}
        for f in listing.get("filters", []):
            if f.get("field", "").startswith("labels."):
                if not self.label_filters:
                    raise _error("invalid_argument", f"invalid filter field {f['field']}")
                labels[f["field"].removeprefix("labels.")] = set(f.get("values", []))
        with self.state.lock:
            runs = [
                r
                for r in self.state.runs.values()
                if r.project == project.get("name") and r.domain == project.get("domain")
            ]
        names = _equal_filter(listing, "task_name")
        runs = [r for r in runs if not names or r.task.name in names]
        run_names = _equal_filter(listing, "run_name")
        runs = [r for r in runs if not run_names or r.name in run_names]
        runs = [r for r in runs if all(r.labels.get(k) in values for k, values in labels.items())]
        runs.sort(key=lambda r: r.created, reverse=_descending(listing))
        page, token = _page(runs, listing)
        return from_dict(
            {"runs": [{"action": _action(r)} for r in page], "token": token}, rs.ListRunsResponse()
        )

    # -- ProjectService --------------------------------------------------------------------------

    async def get_project(self, request: ps.GetProjectRequest, ctx: Any) -> ps.GetProjectResponse:
        domains = PROJECTS.get(request.id)
        if domains is None:
            raise _error("not_found", f"project {request.id} not found")
        project = {
            "id": request.id,
            "name": request.id,
            "domains": [{"id": domain, "name": domain} for domain in domains],
            "state": "PROJECT_STATE_ACTIVE",
            "org": request.org,
        }
        return from_dict({"project": project}, ps.GetProjectResponse())

    # -- DataProxyService, ClusterService --------------------------------------------------------

    async def get_action_data(self, request: dp.GetActionDataRequest, ctx: Any) -> dp.GetActionDataResponse:
        run = self._action_run(to_dict(request.action_id))
        base = f"s3://emulator/metadata/{run.project}/{run.domain}/{run.name}"
        body: dict[str, Any] = {"inputs": {"literals": run.input_literals}, "inputsUri": f"{base}/inputs.pb"}
        if run.phase() == "ACTION_PHASE_SUCCEEDED":
            body["outputs"] = {"literals": run.output_literals or []}
            body["outputsUri"] = f"{base}/a0/1/outputs.pb"
        return from_dict(body, dp.GetActionDataResponse())

    async def upload_inputs(self, request: dp.UploadInputsRequest, ctx: Any) -> dp.UploadInputsResponse:
        body = to_dict(request)
        offloaded = self.state.upload(list(body.get("inputs", {}).get("literals", [])))
        return from_dict({"offloadedInputData": offloaded}, dp.UploadInputsResponse())

    async def tail_logs(self, request: dp.TailLogsRequest, ctx: Any) -> AsyncIterator[dp.TailLogsResponse]:
        run = self._action_run(to_dict(request.action_id))
        sent = 0
        quiet_until = time.monotonic() + 30  # like a pod's log stream, it does not end by itself
        while time.monotonic() < quiet_until:
            lines = run.visible_logs()
            if len(lines) > sent:
                stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
                yield from_dict(
                    {
                        "logs": [
                            {
                                "lines": [
                                    {"timestamp": stamp, "message": line + "\n", "originator": "USER"}
                                    for line in lines[sent:]
                                ],
                                "container": {
                                    "kubernetesPodName": f"{run.name}-a0-0",
                                    "kubernetesContainerName": "a0",
                                },
                            }
                        ]
                    },
                    dp.TailLogsResponse(),
                )
                sent = len(lines)
            await asyncio.sleep(0.1)

    async def select_cluster(
        self, request: payload_pb2.SelectClusterRequest, ctx: Any
    ) -> payload_pb2.SelectClusterResponse:
        # Like OSS: the data plane is the endpoint the caller used, unless another one is set.
        endpoint = self.data_plane_url or REQUEST_BASE_URL.get()
        return payload_pb2.SelectClusterResponse(cluster_endpoint=endpoint, cluster="emulator")

    # -- AuthMetadataService, IdentityService ---------------------------------------------------

    async def get_o_auth2_metadata(
        self, request: Any, ctx: Any
    ) -> auth_service_pb2.GetOAuth2MetadataResponse:
        base = f"http://{ctx.request_headers().get('host', '')}"
        return auth_service_pb2.GetOAuth2MetadataResponse(
            issuer=base,
            token_endpoint=self.token_endpoint or f"{base}/oauth2/token",
            authorization_endpoint=f"{base}/oauth2/authorize",
            grant_types_supported=["client_credentials"],
        )

    async def get_public_client_config(
        self, request: Any, ctx: Any
    ) -> auth_service_pb2.GetPublicClientConfigResponse:
        return auth_service_pb2.GetPublicClientConfigResponse(
            client_id="flytectl",
            authorization_metadata_key=self.auth.get("header", "authorization"),
            scopes=["all"],
        )

    async def user_info(self, request: Any, ctx: Any) -> identity_pb2.UserInfoResponse:
        return identity_pb2.UserInfoResponse(
            subject=self.auth.get("client_id") or "anonymous", name="emulator"
        )


def _action(run: EmulatedRun) -> dict[str, Any]:
    details = run.action_details()
    return {"id": details["id"], "metadata": details["metadata"], "status": details["status"]}


def _found(call: Any) -> Any:
    try:
        return call()
    except Rejected as rejected:
        raise _error(rejected.code, str(rejected)) from None


def _equal_filter(listing: dict[str, Any], field: str) -> set[str]:
    values: set[str] = set()
    for f in listing.get("filters", []):
        if f.get("field") == field and f.get("function", "EQUAL") in ("EQUAL", "VALUE_IN"):
            values.update(f.get("values", []))
    return values


def _descending(listing: dict[str, Any]) -> bool:
    sort = listing.get("sortBy") or (listing.get("sortByFields") or [{}])[0]
    return bool(sort.get("direction", "DESCENDING") == "DESCENDING")


def _page(items: list[Any], listing: dict[str, Any]) -> tuple[list[Any], str]:
    limit = int(listing.get("limit") or 50)
    if limit > MAX_PAGE:
        raise _error("invalid_argument", f"limit {limit} exceeds the maximum of {MAX_PAGE}")
    start = int(listing.get("token") or 0)
    end = start + limit
    return items[start:end], (str(end) if end < len(items) else "")


def _connect_error_body(status: int, code: str, message: str) -> tuple[str, bytes]:
    return "application/json", json.dumps({"code": code, "message": message}).encode()


class FlyteEmulator:
    """A Flyte control plane on loopback. ``client_id``/``client_secret`` turn on OAuth2 like Union's."""

    def __init__(
        self,
        *,
        queue_seconds: float = 0.3,
        run_seconds: float = 1.0,
        client_id: str = "",
        client_secret: str = "",
        auth_header: str = "authorization",
        token_ttl: float = 3600,
        label_filters: bool = False,
        data_plane_url: str = "",
    ) -> None:
        self.state = FlyteState(queue_seconds=queue_seconds, run_seconds=run_seconds)
        self.auth = {"client_id": client_id, "client_secret": client_secret, "header": auth_header}
        self.token_ttl = token_ttl
        self.tokens: dict[str, float] = {}
        services = Services(self.state, self.auth)
        services.label_filters = label_filters
        services.data_plane_url = data_plane_url
        self.services = services
        apps = [
            RunServiceASGIApplication(services),
            TaskServiceASGIApplication(services),
            DataProxyServiceASGIApplication(services),
            ClusterServiceASGIApplication(services),
            AuthMetadataServiceASGIApplication(services),
            IdentityServiceASGIApplication(services),
            ProjectServiceASGIApplication(services),
        ]
        self.routes: dict[str, ASGIApp] = {app.path: app for app in apps}
        self.app = EmulatorApp(self._dispatch, _connect_error_body, self._control)

    @property
    def requires_auth(self) -> bool:
        return bool(self.auth["client_id"])

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        if path == "/oauth2/token":
            await self._token(scope, receive, send)
            return
        if path.startswith("/v2/domain/"):
            await self._console_page(scope, send)
            return
        service = "/" + path.strip("/").split("/")[0]
        app = self.routes.get(service)
        if app is None:
            content_type, body = _connect_error_body(501, "unimplemented", f"{path} is not implemented")
            await send_bytes(send, 501, content_type, body)
            return
        if (
            self.requires_auth
            and service != "/flyteidl2.auth.AuthMetadataService"
            and not self._authorized(scope)
        ):
            content_type, body = _connect_error_body(
                401, "unauthenticated", "missing or invalid bearer token"
            )
            await send_bytes(send, 401, content_type, body)
            return
        try:
            await app(scope, receive, send)
        except ConnectError as error:
            if error.code is not Code.CANCELED:  # a client that hangs up on a stream is not an error
                raise

    async def _console_page(self, scope: Scope, send: Send) -> None:
        """The page a run link opens (``/v2/domain/<d>/project/<p>/runs/<name>``), as a console would. Read from
        the raw path, one percent-decoded segment at a time: an encoded ``/`` stays inside its name."""
        raw = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        parts = [unquote(part) for part in raw.strip("/").split("/")]
        run = None
        if len(parts) == 7 and parts[3] == "project" and parts[5] == "runs":
            run = self.state.runs.get((parts[4], parts[2], parts[6]))
        if run is None:
            await send_bytes(send, 404, "text/html; charset=utf-8", link_page("No such run", {"Path": raw}))
            return
        inputs = {i["name"]: literals.decode(i["value"]) for i in run.input_literals}
        facts = {
            "Run": run.name,
            "Project / domain": f"{run.project} / {run.domain}",
            "Task": f"{run.task.name} ({run.task.version})",
            "Phase": run.phase(),
            "Inputs": json.dumps(inputs, default=str),
            "Error": str(run.failure or run.abort_reason or ""),
            "Log": "\n".join(run.visible_logs()),
        }
        page = link_page(f"Flyte run {run.name}", facts)
        await send_bytes(send, 200, "text/html; charset=utf-8", page)

    def _authorized(self, scope: Scope) -> bool:
        wanted = self.auth["header"].lower().encode()
        for key, value in scope["headers"]:
            if key == wanted and value.startswith(b"Bearer "):
                expiry = self.tokens.get(value[7:].decode())
                return expiry is not None and expiry > time.time()
        return False

    async def _token(self, scope: Scope, receive: Receive, send: Send) -> None:

        form = parse_qs((await read_body(receive)).decode())
        header = dict(scope["headers"]).get(b"authorization", b"").decode()
        client = ""
        if header.startswith("Basic "):
            client_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")

            if client_id == self.auth["client_id"] and unquote_plus(secret) == self.auth["client_secret"]:
                client = client_id
        if form.get("grant_type") != ["client_credentials"] or not client:
            await send_bytes(send, 401, "application/json", b'{"error": "invalid_client"}')
            return
        token = secrets.token_urlsafe(24)
        self.tokens[token] = time.time() + self.token_ttl
        payload = {"access_token": token, "token_type": "bearer", "expires_in": int(self.token_ttl)}
        await send_bytes(send, 200, "application/json", json.dumps(payload).encode())

    def _control(self, method: str, name: str, payload: Any) -> Any:
        if name == "runs":
            return self.state.summary()
        if name == "revoke-tokens":
            self.tokens.clear()
            return {"revoked": True}
        if name == "report-phase" and method == "POST":
            # {"run": <name>, "phase": <enum number or name>, "project"?, "domain"?}; a null phase: the real one
            payload = payload or {}
            project, domain = payload.get("project", "flytesnacks"), payload.get("domain", "development")
            try:
                run = self.state.run(project, domain, str(payload.get("run", "")))
            except Rejected as rejected:
                raise ValueError(str(rejected)) from None
            run.reported_phase = payload.get("phase")
            return {"run": run.name, "phase": run.reported_phase}
        raise KeyError(name)
