"""Driving an operation with canned answers and no network, through the real executors.

An operation is only a generator of requests, so any platform call can be tested with the answers a server
would give: ``Replay`` puts an ``httpx.MockTransport`` under :func:`~airflow_remote_tasks.core.executors.execute`
(and ``aexecute``) with a retry policy that does not wait, and records every request sent::

    replay = Replay([reply(status=503), reply(json={"id": "r-1"})])
    ref = replay.run(platform.submit(...), platform=platform)
    assert [r.method for r in replay.requests] == ["POST", "POST"]

Retries, credentials (``platform.auth`` applied for ``platform.api_origin``, as the hooks do), JSON checks and
the errors' notes (``answer_lost``, ``endpoint``) are the executors' own.
"""

from __future__ import annotations

import json as jsonlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, TypeVar

import httpx

from airflow_remote_tasks.core.auth import Auth, authorized
from airflow_remote_tasks.core.executors import aexecute, execute
from airflow_remote_tasks.core.operation import HttpRequest, HttpResponse, Operation, relayed
from airflow_remote_tasks.core.retry import RetryPolicy

T = TypeVar("T")

# The executors' retry decisions unchanged, without the sleeps between tries: a replay runs in milliseconds.
NO_WAIT = RetryPolicy(initial_backoff=0.0, max_backoff=0.0, max_retry_after=0.0)


@dataclass(frozen=True)
class Reply:
    """One canned answer: an HTTP response, or (``lost``) none after the server received the request."""

    status: int = 200
    json: Any = None
    content: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    lost: bool = False

    def response(self, request: httpx.Request) -> httpx.Response:
        """The answer to ``request``.

        :raises httpx.ReadError: when the answer is lost (the connection broke after the request was sent).
        """
        if self.lost:
            raise httpx.ReadError("the connection broke before an answer came back", request=request)
        body = self.content if self.json is None else jsonlib.dumps(self.json).encode()
        typed = {} if self.json is None else {"content-type": "application/json"}
        headers = {**typed, "content-length": str(len(body)), **self.headers}
        # Served as a stream, as a server's body arrives: read whole, in a download's chunks, or framed (iter_raw)
        # alike; a body given as content= would come already read and refuse iter_raw (StreamConsumed).
        return httpx.Response(self.status, headers=headers, stream=httpx.ByteStream(body))


def reply(
    status: int = 200,
    json: Any = None,
    content: bytes = b"",
    headers: Mapping[str, str] | None = None,
    lost: bool = False,
) -> Reply:
    """A canned answer: ``json`` (sent as ``application/json``) or raw ``content`` with ``status`` and
    ``headers``; ``lost=True``: the server acted, but its answer never came back (a transport error)."""
    return Reply(status=status, json=json, content=content, headers=dict(headers or {}), lost=lost)


class Target(Protocol):
    """What a replay needs of a platform to sign its requests as the hooks do."""

    @property
    def api_origin(self) -> str: ...

    @property
    def auth(self) -> Auth | None: ...


class UnansweredRequestError(AssertionError):
    """A request came for which the replay had no canned answer left."""


class Replay:
    """Canned answers for an operation's requests, in order (a list of :func:`reply`), or from a handler
    ``(httpx.Request) -> Reply``. ``requests`` holds every request sent, in order; ``pauses`` the pause each
    request asked for before it was sent (a replay does not sleep them)."""

    def __init__(
        self,
        answers: Iterable[Reply] | Callable[[httpx.Request], Reply],
        *,
        policy: RetryPolicy = NO_WAIT,
    ) -> None:
        self._handler = answers if callable(answers) else None
        self._queue = [] if callable(answers) else list(answers)
        self._policy = policy
        self._unanswered: httpx.Request | None = None
        self.requests: list[httpx.Request] = []
        self.pauses: list[float] = []

    def run(self, operation: Operation[T], *, platform: Target | None = None) -> T:
        """``operation``'s value, driven by :func:`execute` over the canned answers.

        :raises UnansweredRequestError: when a request found no answer left (even if the operation caught it).
            Otherwise raises what the operation raises.
        """
        with httpx.Client(transport=httpx.MockTransport(self._answer)) as client:
            try:
                value = execute(self._prepared(operation, platform), client, self._policy)
            finally:
                self._check_answered()
        return value

    async def arun(self, operation: Operation[T], *, platform: Target | None = None) -> T:
        """:meth:`run` through :func:`aexecute`, on the running event loop."""
        async with httpx.AsyncClient(transport=httpx.MockTransport(self._answer)) as client:
            try:
                value = await aexecute(self._prepared(operation, platform), client, self._policy)
            finally:
                self._check_answered()
        return value

    @property
    def bodies(self) -> list[Any]:
        """Each request's body decoded as JSON (``None`` for an empty one), in order."""
        return [jsonlib.loads(r.content) if r.content else None for r in self.requests]

    @property
    def left(self) -> int:
        """How many canned answers were not used."""
        return len(self._queue)

    def _prepared(self, operation: Operation[T], platform: Target | None) -> Operation[T]:
        unpaused = relayed(operation, self._unpaused)
        return unpaused if platform is None else authorized(unpaused, platform.auth, platform.api_origin)

    def _unpaused(self, request: HttpRequest) -> Operation[HttpResponse]:
        self.pauses.append(request.pause)
        return (yield replace(request, pause=0.0))

    def _answer(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self._handler is not None:
            return self._handler(request).response(request)
        if not self._queue:
            self._unanswered = self._unanswered or request
            raise UnansweredRequestError(f"No canned answer left for {_described(request)}")
        return self._queue.pop(0).response(request)

    def _check_answered(self) -> None:
        if self._unanswered is not None:
            raise UnansweredRequestError(f"No canned answer left for {_described(self._unanswered)}")


def _described(request: httpx.Request) -> str:
    body = request.content[:500].decode("utf-8", "replace")
    return f"{request.method} {request.url}" + (f" with body {body}" if body else "")
