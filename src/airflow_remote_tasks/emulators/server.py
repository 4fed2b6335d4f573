"""Shared emulator plumbing: fault injection, control routes, and serving an ASGI app with uvicorn."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import socket
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import asdict, dataclass, fields
from typing import Any

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
# (status, code, message) -> (content type, body): each platform's own error shape
ErrorBody = Callable[[int, str, str], tuple[str, bytes]]


# scheme://host[:port] the current request was sent to, for answers that name the server itself
REQUEST_BASE_URL: ContextVar[str] = ContextVar("REQUEST_BASE_URL", default="")


def base_url_of(scope: Scope) -> str:
    headers = dict(scope.get("headers") or [])
    host = (headers.get(b"host") or headers.get(b":authority") or b"").decode()
    if not host and scope.get("server"):
        server_host, port = scope["server"][:2]
        host = f"[{server_host}]:{port}" if ":" in server_host else f"{server_host}:{port}"
    return f"{scope.get('scheme', 'http')}://{host}"


@dataclass
class Faults:
    """What goes wrong, and how often. Changed at run time through ``POST /_emulator/faults``."""

    error_rate: float = 0.0  # share of API calls answered with ``error_status``
    error_status: int = 503
    fail_next: int = 0  # the next N API calls fail with ``error_status``
    rate_limit_next: int = 0  # the next N API calls get 429 with Retry-After
    # with fail_method_next: fail the next N calls of one method: a Connect method name ("GetRunDetails"),
    # or an HTTP verb and path prefix ("GET /api/executions/")
    fail_method: str = ""
    fail_method_next: int = 0
    # with lose_answer_next: the next N calls of one method (as fail_method) are carried out, and then the
    # connection is cut halfway through the answer, as when a response is lost after the server acted
    lose_answer: str = ""
    lose_answer_next: int = 0
    retry_after: float = 1.0
    latency: float = 0.0  # seconds added to every API call
    seed: int = 0

    def update(self, changes: dict[str, Any]) -> None:
        known = {f.name: f.type for f in fields(self)}
        for key, value in changes.items():
            if key not in known:
                raise ValueError(f"unknown fault {key!r}; known: {', '.join(known)}")
            setattr(self, key, type(getattr(self, key))(value))


async def send_bytes(
    send: Send, status: int, content_type: str, body: bytes, headers: dict[str, str] | None = None
) -> None:
    raw_headers = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())]
    raw_headers += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})


async def send_json(send: Send, status: int, payload: Any) -> None:
    await send_bytes(send, status, "application/json", json.dumps(payload, default=str).encode())


async def read_body(receive: Receive) -> bytes:
    body = bytearray()
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            return bytes(body)


class AnswerLost(ConnectionAbortedError):
    """Raised to make the ASGI server cut a connection mid-answer (the ``lose_answer`` fault)."""


async def send_half_then_cut(
    send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes
) -> None:
    """Start an answer that promises more than it sends: half of ``body``, then the connection is cut, as when
    a response is lost after the server acted.

    :raises AnswerLost: always, to make the ASGI server cut the connection."""
    kept = [(k, v) for k, v in headers if k.lower() != b"content-length"]
    kept.append((b"content-length", str(len(body) + 64).encode()))
    await send({"type": "http.response.start", "status": status, "headers": kept})
    await send({"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True})
    raise AnswerLost("emulator fault: answer lost after the call was carried out")


class _QuietAnswerLost(logging.Filter):
    """The server logs an app's exception with its traceback; a fault that was asked for is no error."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], AnswerLost))


class EmulatorApp:
    """Wraps a platform's ASGI app with faults, call counting and the ``/_emulator`` control routes."""

    def __init__(self, api: ASGIApp, error_body: ErrorBody, control: Callable[[str, str, Any], Any]) -> None:
        self.api = api
        self.error_body = error_body
        self.control = control
        self.faults = Faults()
        self.calls: Counter[str] = Counter()
        self._random = random.Random(0)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        if path == "/healthz":
            await send_json(send, 200, {"status": "ok"})
            return
        if path.startswith("/_emulator/"):
            await self._control(scope, receive, send)
            return
        self.calls[path] += 1
        REQUEST_BASE_URL.set(base_url_of(scope))
        fault = self._next_fault(scope["method"], path)
        if self.faults.latency:
            await asyncio.sleep(self.faults.latency)
        if fault is not None:
            status, headers = fault
            content_type, body = self.error_body(status, _code_for(status), "injected fault")
            await send_bytes(send, status, content_type, body, headers)
            return
        if self.faults.lose_answer_next > 0 and _matches(self.faults.lose_answer, scope["method"], path):
            self.faults.lose_answer_next -= 1
            await self._act_then_cut(scope, receive, send)
            return
        await self.api(scope, receive, send)

    async def _act_then_cut(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Carry the call out in full, then send half of its answer and cut the connection."""
        messages: list[dict[str, Any]] = []

        async def keep(message: dict[str, Any]) -> None:
            messages.append(message)

        await self.api(scope, receive, keep)
        start = next(m for m in messages if m["type"] == "http.response.start")
        body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
        await send_half_then_cut(send, start["status"], start.get("headers", []), body)

    def _next_fault(self, method: str, path: str) -> tuple[int, dict[str, str]] | None:
        f = self.faults
        if f.fail_method_next > 0 and _matches(f.fail_method, method, path):
            f.fail_method_next -= 1
            return f.error_status, {}
        if f.rate_limit_next > 0:
            f.rate_limit_next -= 1
            return 429, {"Retry-After": f"{f.retry_after:g}"}
        if f.fail_next > 0:
            f.fail_next -= 1
            return f.error_status, {}
        if f.error_rate and self._random.random() < f.error_rate:
            return f.error_status, {}
        return None

    async def _control(self, scope: Scope, receive: Receive, send: Send) -> None:
        name = scope["path"][len("/_emulator/") :]
        body = await read_body(receive)
        payload = json.loads(body) if body else None
        try:
            if name == "faults":
                if scope["method"] == "POST":
                    self.faults.update(payload or {})
                    self._random.seed(self.faults.seed)
                result: Any = asdict(self.faults)
            elif name == "calls":
                result = dict(self.calls)
            else:
                result = self.control(scope["method"], name, payload)
        except KeyError as error:
            await send_json(send, 404, {"error": f"unknown control route {error}"})
            return
        except ValueError as error:
            await send_json(send, 400, {"error": str(error)})
            return
        await send_json(send, 200, result)


def _matches(pattern: str, method: str, path: str) -> bool:
    """A Connect method name ("CreateRun"), or an HTTP verb and path prefix ("POST /api/tasks/")."""
    verb, _, prefix = pattern.partition(" ")
    if prefix:
        return method == verb and path.startswith(prefix)
    return bool(pattern) and path.endswith("/" + pattern)


def _code_for(status: int) -> str:
    return {
        400: "invalid_argument",
        429: "resource_exhausted",
        503: "unavailable",
        504: "deadline_exceeded",
        401: "unauthenticated",
    }.get(status, "internal")


class ServerThread:
    """Serve an ASGI app on loopback in a background thread (tests, the demo, notebooks)."""

    def __init__(self, app: ASGIApp, host: str = "127.0.0.1", port: int = 0) -> None:
        import uvicorn

        server_log = logging.getLogger("uvicorn.error")
        if not any(isinstance(f, _QuietAnswerLost) for f in server_log.filters):
            server_log.addFilter(_QuietAnswerLost())
        self.sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.host, self.port = self.sock.getsockname()[:2]
        config = uvicorn.Config(
            app, log_level="warning", lifespan="off", access_log=False, timeout_graceful_shutdown=1
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self._run, name=f"emulator:{self.port}", daemon=True)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def _run(self) -> None:
        asyncio.run(self.server.serve(sockets=[self.sock]))

    def start(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("emulator did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve_forever(app: ASGIApp, host: str, port: int, announce: Callable[[str], None]) -> None:
    """Serve in the foreground until interrupted; ``announce`` gets the base URL once listening."""
    server = ServerThread(app, host, port).start()
    announce(server.url)
    try:
        while server.thread.is_alive():
            server.thread.join(timeout=0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


def link_page(title: str, facts: dict[str, Any]) -> bytes:
    """A small HTML page an emulator answers on the paths its platform's run links point to, so a link printed
    by a task or by ``make demo`` opens something: the run's name and what the emulator knows of it."""
    from html import escape

    rows = "".join(
        f"<tr><th>{escape(str(key))}</th><td>{escape(str(value))}</td></tr>" for key, value in facts.items()
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{escape(title)}</title></head><body><h1>{escape(title)}</h1>"
        f"<table>{rows}</table><p>Served by the remote-tasks emulator.</p></body></html>"
    ).encode()
