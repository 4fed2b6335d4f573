"""Flyte's Connect services, served by flyteidl2's generated ASGI applications, and the emulator around them.

The generated classes own the wire format (Connect unary and streaming, JSON and proto codecs, gzip,
error envelopes), so the emulator is right by construction on the wire; the services' modules supply state.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import time
from typing import Any
from urllib.parse import parse_qs, unquote_plus

from connectrpc.code import Code
from connectrpc.errors import ConnectError
from flyteidl2.auth.auth_service_connect import AuthMetadataServiceASGIApplication
from flyteidl2.auth.identity_connect import IdentityServiceASGIApplication
from flyteidl2.cluster.service_connect import ClusterServiceASGIApplication
from flyteidl2.dataproxy.dataproxy_service_connect import DataProxyServiceASGIApplication
from flyteidl2.project.project_service_connect import ProjectServiceASGIApplication
from flyteidl2.task.task_service_connect import TaskServiceASGIApplication
from flyteidl2.workflow.run_service_connect import RunServiceASGIApplication

from airflow_remote_tasks.emulators.flyte.auth import Identity
from airflow_remote_tasks.emulators.flyte.connect import Unimplemented, connect_error_body
from airflow_remote_tasks.emulators.flyte.control_plane import ControlPlane
from airflow_remote_tasks.emulators.flyte.data_plane import DataPlane
from airflow_remote_tasks.emulators.flyte.pages import CONSOLE_PREFIX, console_page
from airflow_remote_tasks.emulators.flyte.state import FlyteState, Rejected
from airflow_remote_tasks.emulators.flyte.watching import HUNG_UP, RunWatches
from airflow_remote_tasks.emulators.server import (
    ASGIApp,
    EmulatorApp,
    Receive,
    Scope,
    Send,
    read_body,
    send_bytes,
)

AUTH_METADATA_SERVICE = "/flyteidl2.auth.AuthMetadataService"  # asked before a client has a token


class Services(ControlPlane, DataPlane, Identity, Unimplemented):
    """Every service's methods, in one object the generated applications share."""

    def __init__(self, state: FlyteState, auth: dict[str, Any]) -> None:
        self.state = state
        self.auth = auth
        self.watches = RunWatches(state)


def _noticing_hang_up(receive: Receive) -> Receive:
    """``receive``, which also tells the stream being served (:data:`HUNG_UP`) once its client hangs up."""
    hung_up = asyncio.Event()
    HUNG_UP.set(hung_up)

    async def received() -> dict[str, Any]:
        message = await receive()
        if message["type"] == "http.disconnect":
            hung_up.set()
        return message

    return received


async def _headers_sent_at_once(send: Send) -> Send:
    """Send a stream's headers now, as a server that flushes them before its first message does; ``send``,
    which leaves out the app's own (a Connect stream's answer is 200 whatever comes in it)."""
    headers = [(b"content-type", b"application/connect+json")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})

    async def sending(message: dict[str, Any]) -> None:
        if message["type"] != "http.response.start":
            await send(message)

    return sending


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
        self.watches = services.watches  # WatchRuns' open streams and faults
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
        self.app = EmulatorApp(self._dispatch, connect_error_body, self._control)

    @property
    def requires_auth(self) -> bool:
        return bool(self.auth["client_id"])

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        if path == "/oauth2/token":
            await self._token(scope, receive, send)
            return
        if path.startswith(CONSOLE_PREFIX):
            await console_page(self.state, scope, send)
            return
        service = "/" + path.strip("/").split("/")[0]
        app = self.routes.get(service)
        if app is None:
            content_type, body = connect_error_body(501, "unimplemented", f"{path} is not implemented")
            await send_bytes(send, 501, content_type, body)
            return
        if self.requires_auth and service != AUTH_METADATA_SERVICE and not self._authorized(scope):
            content_type, body = connect_error_body(401, "unauthenticated", "missing or invalid bearer token")
            await send_bytes(send, 401, content_type, body)
            return
        if path.endswith("/WatchRuns"):
            receive = _noticing_hang_up(receive)
            if self.watches.faults.headers_first:
                send = await _headers_sent_at_once(send)
        try:
            await app(scope, receive, send)
        except ConnectError as error:
            if error.code is not Code.CANCELED:  # a client that hangs up on a stream is not an error
                raise

    def _authorized(self, scope: Scope) -> bool:
        wanted = self.auth["header"].lower().encode()
        for key, value in scope["headers"]:
            if key == wanted and value.startswith(b"Bearer "):
                expiry = self.tokens.get(value[7:].decode())
                return expiry is not None and expiry > time.time()
        return False

    async def _token(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The OAuth2 token endpoint: client credentials in a Basic header buy a bearer token."""
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
        if name == "watch-runs":
            return self.watches.control(payload if method == "POST" else None)
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
