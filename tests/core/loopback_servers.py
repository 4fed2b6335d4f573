"""Loopback servers for the core's rules, tried on every platform's connection: recorders that answer one fixed
way, apps seen under another address, and each platform's connection with the header its credential goes in."""

from __future__ import annotations

import asyncio
from typing import Any

from airflow_remote_tasks.core.executors import aexecute, execute
from airflow_remote_tasks.core.operation import HttpRequest, HttpResponse, Operation
from airflow_remote_tasks.core.retry import RetryPolicy
from airflow_remote_tasks.core.transport import ClientSettings, async_client, sync_client
from airflow_remote_tasks.emulators.server import send_bytes
from airflow_remote_tasks.hooks.base import RemoteTaskHook
from airflow_remote_tasks.registry import hook_for_connection
from support import AVALA_KEY, JULEP_KEY, LABELBOX_KEY, set_connection

FLYTE_TOKEN = "tok-FLYTE-secret-0042"


# Each platform's connection (type, password, extra) and the header its credential travels in.
CONNECTIONS: dict[str, tuple[str, str, dict[str, Any], str]] = {
    "flyte": (
        "remote_tasks_flyte",
        "",
        {"access_token": FLYTE_TOKEN, "auth_header": "authorization"},
        "authorization",
    ),
    "julep": ("remote_tasks_julep", JULEP_KEY, {}, "authorization"),
    "labelbox": ("remote_tasks_labelbox", LABELBOX_KEY, {}, "authorization"),
    "avala": ("remote_tasks_avala", AVALA_KEY, {}, "x-avala-api-key"),
}


SECRETS = {"flyte": FLYTE_TOKEN, "julep": JULEP_KEY, "labelbox": LABELBOX_KEY, "avala": AVALA_KEY}


class Recorder:
    """A tiny loopback server that records each request's headers and gives one fixed answer, or a redirect
    for the paths in ``redirects``."""

    def __init__(
        self,
        status: int = 200,
        content_type: str = "application/json",
        body: bytes = b"{}",
        redirects: dict[str, str] | None = None,
    ) -> None:
        self.status, self.content_type, self.body = status, content_type, body
        self.redirects = redirects or {}
        self.seen: list[dict[str, str]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        self.seen.append({":path": scope["path"], **headers})
        if scope["path"] in self.redirects:
            await send_bytes(send, 302, "text/plain", b"", {"Location": self.redirects[scope["path"]]})
        else:
            await send_bytes(send, self.status, self.content_type, self.body)


def rehosted(app: Any, netloc: str) -> Any:
    """``app`` as if its public address were ``netloc``: the links it hands back point there (another origin)."""

    async def wrapped(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = [(k, netloc.encode() if k.lower() == b"host" else v) for k, v in scope["headers"]]
            scope = {**scope, "headers": headers}
        await app(scope, receive, send)

    return wrapped


def connect(platform: str, host: str, conn_id: str = "", **extra: Any) -> RemoteTaskHook:
    conn_type, password, fields, _ = CONNECTIONS[platform]
    conn_id = conn_id or f"{platform}_rules"
    set_connection(conn_id, conn_type, host, password, {**fields, **extra})
    return hook_for_connection(conn_id)


def calls(*requests: HttpRequest) -> Operation[list[HttpResponse]]:
    answers = []
    for request in requests:
        answers.append((yield request))
    return answers


def netloc(url: str) -> str:
    return url.split("://", 1)[1]


QUICK = RetryPolicy(attempts=5, initial_backoff=0.01, max_backoff=0.01)


SETTINGS = ClientSettings(read_timeout=0.3, connect_timeout=2.0)


def run(operation: Operation[Any], mode: str, policy: RetryPolicy = QUICK) -> Any:
    """``operation`` on a real client: the worker's executor or the triggerer's."""
    if mode == "worker":
        with sync_client(SETTINGS) as client:
            return execute(operation, client, policy)

    async def in_loop() -> Any:
        async with async_client(SETTINGS) as client:
            return await aexecute(operation, client, policy)

    return asyncio.run(in_loop())
