"""Operations: remote calls written once, as generators, with no I/O of their own.

An operation yields :class:`HttpRequest` objects and is sent back :class:`HttpResponse` objects; its
return value is the typed result. The sync executor (worker) and the async executor (triggerer) in
:mod:`airflow_remote_tasks.core.executors` are the only code that touches a socket, so every platform
call exists once and both wait modes drive the same code.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Generator, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, TypeVar
from urllib.parse import quote

import httpx

from airflow_remote_tasks.core.errors import UnexpectedAnswerError

T = TypeVar("T")


@dataclass(frozen=True)
class StreamLimits:
    """How to read a response body that may never end (a log tail)."""

    idle_timeout: float = 3.0
    max_bytes: int = 1 << 20


class Sink(Protocol):
    """Where a download's body goes: a file opened for writing, an object-store writer, a counter."""

    def write(self, data: bytes, /) -> Any: ...


class Body(Protocol):
    """A request body too large to hold (a file): sent in pieces, read again from its start for each try. The
    request's headers give its Content-Length."""

    def chunks(self) -> Iterator[bytes]: ...


@dataclass(frozen=True)
class HttpRequest:
    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    content: bytes | Body | None = None
    # Safe to send twice: a read, or a write that carries an idempotency key. Only these are retried.
    idempotent: bool = True
    # Starts or changes a run (a submit's create, a resume), as the platform marks it (:func:`starting_run`):
    # when no answer came back to a try of it that was sent, and no later try got one, the run may have started.
    starts_run: bool = False
    stream: StreamLimits | None = None
    # Whether the connection's credentials go on this request (token endpoints and discovery: no).
    authenticate: bool = True
    # Callers on one event loop that send requests with the same non-empty key at the same time share one
    # answer: a token request when hundreds of triggers start together goes out once, not once each.
    share: str = ""
    # A download: a 2xx body is written here as it arrives (memory stays flat whatever its size), and the
    # response's content is empty; redirects are followed. Anything with ``write(bytes)``.
    sink: Sink | None = None
    # The platform's word on an answer worth another try, beyond the usual statuses: GraphQL reports rate
    # limits and server errors inside HTTP 200. Consulted only where a retry is safe.
    retry_answer: Callable[[HttpResponse], bool] | None = None
    # Seconds the executor waits before sending: a read of work the platform has not finished yet, asked again
    # after a pause (not a retry of a failure, so not logged as one).
    pause: float = 0.0

    def with_headers(self, extra: Mapping[str, str]) -> HttpRequest:
        return replace(self, headers={**self.headers, **extra})


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: Mapping[str, str]
    content: bytes
    url: str = ""
    attempts: int = 1  # how many times the request was sent for this answer (the executor's retries)

    @property
    def tries(self) -> str:
        """ " after N tries" when the request was retried, for error messages."""
        return f" after {self.attempts} tries" if self.attempts > 1 else ""

    @property
    def content_type(self) -> str:
        for key, value in self.headers.items():
            if key.lower() == "content-type":
                return value.split(";")[0].strip().lower()
        return ""

    def json(self) -> Any:
        """The body decoded as JSON (``None`` for an empty one).

        :raises UnexpectedAnswerError: (a ``ValueError`` too) when the body is not JSON, naming the URL and
            what came back instead.
        """
        if not self.content:
            return None
        try:
            return json.loads(self.content)
        except ValueError:
            raise UnexpectedAnswerError.of(self.url, self) from None

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")


Operation = Generator[HttpRequest, HttpResponse, T]

_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin(url: str) -> str:
    """``scheme://host[:port]`` of ``url``, lower-cased and without a default port: two URLs are the same origin
    exactly when these are equal."""
    parsed = httpx.URL(url)
    scheme = parsed.scheme.lower()
    host = parsed.host.lower()
    if ":" in host:
        host = f"[{host}]"
    elif host.endswith("."):
        host = host[:-1]  # the fully qualified form of the same name: "api.example.com." is api.example.com
    port = parsed.port
    return f"{scheme}://{host}" if port in (None, _DEFAULT_PORTS.get(scheme)) else f"{scheme}://{host}:{port}"


def returns(value: T) -> Operation[T]:
    """An operation that needs no call: it returns ``value`` at once."""
    return value
    yield  # unreachable; makes this function a generator


def relayed(
    operation: Operation[T], exchange: Callable[[HttpRequest], Operation[HttpResponse]]
) -> Operation[T]:
    """Run ``operation``, answering each of its requests with the operation ``exchange(request)``; an error of
    the exchange (a transport error) is thrown into ``operation``, which may handle it."""
    try:
        request = next(operation)
        while True:
            try:
                response = yield from exchange(request)
            except Exception as error:
                request = operation.throw(error)
                continue
            request = operation.send(response)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]


def starting_run(operation: Operation[T]) -> Operation[T]:
    """``operation`` (a platform's create or resume call) with each of its requests marked as starting or changing
    a run (:attr:`HttpRequest.starts_run`), so that a failure after its answer was lost says a run may have
    started. Raises what ``operation`` raises."""
    return (yield from relayed(operation, _marked))


def _marked(request: HttpRequest) -> Operation[HttpResponse]:
    return (yield replace(request, starts_run=True))


def path_segment(value: object) -> str:
    """``value`` as one percent-encoded URL path segment: ``/``, ``?``, ``#`` and ``%`` cannot leave it, so an id
    names exactly one resource.

    :raises ValueError: for an empty value, ``.`` or ``..`` (which URL resolution would turn into another path).
    """
    text = str(value)
    if text in ("", ".", ".."):
        raise ValueError(f"{text!r} cannot be a URL path segment")
    return quote(text, safe="")
