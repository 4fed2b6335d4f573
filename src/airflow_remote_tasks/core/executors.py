"""The only generator drivers: one sync, one async. Operations (HTTP requests) and wait procedures (operations,
sleeps, status reads) are both generators driven here; the executors answer an operation's requests over a
sync or an async httpx client, one try at a time through :mod:`~airflow_remote_tasks.core.sending`, the only
code that does I/O.

Everything else (what to send, how to read it, credentials, retry decisions) is shared; the two
executors differ only in ``await``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Generator
from dataclasses import replace
from functools import partial
from typing import Any, TypeVar

import httpx
import tenacity

from airflow_remote_tasks.core.errors import (
    ConfigurationError,
    RemoteTaskError,
    TransportError,
    UnexpectedAnswerError,
    where,
)
from airflow_remote_tasks.core.loops import SingleFlight
from airflow_remote_tasks.core.operation import HttpRequest, HttpResponse, Operation, origin
from airflow_remote_tasks.core.retry import (
    DEFAULT_POLICY,
    UNSENT_ERRORS,
    RetryPolicy,
    check_status,
    untrusted_certificate,
)
from airflow_remote_tasks.core.secrets import redact_headers
from airflow_remote_tasks.core.sending import asend, send

T = TypeVar("T")


def drive(generator: Generator[Any, Any, T], respond: Callable[[Any], Any]) -> T:
    """Run ``generator`` to completion in this thread: each value it yields is answered with ``respond(value)``;
    an exception raised by ``respond`` is thrown into the generator, which may handle it."""
    result: Any = None
    error: BaseException | None = None
    while True:
        try:
            step = generator.throw(error) if error is not None else generator.send(result)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        result, error = None, None
        try:
            result = respond(step)
        except Exception as raised:
            error = raised


async def adrive(generator: Generator[Any, Any, T], respond: Callable[[Any], Awaitable[Any]]) -> T:
    """:func:`drive` on the event loop."""
    result: Any = None
    error: BaseException | None = None
    while True:
        try:
            step = generator.throw(error) if error is not None else generator.send(result)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        result, error = None, None
        try:
            result = await respond(step)
        except Exception as raised:
            error = raised


def execute(operation: Operation[T], client: httpx.Client, policy: RetryPolicy = DEFAULT_POLICY) -> T:
    """Run ``operation`` to completion on a sync client (the worker). A transport error is thrown into the
    operation, which decides: a submit looks its run up before trying again.

    :raises RemoteTaskError: what the operation raises, with what this run of it saw noted on it
        (``answer_lost``, ``endpoint``).
    """
    seen = Seen()
    try:
        return drive(operation, partial(_exchange, client, policy, seen))
    except RemoteTaskError as error:
        seen.noted(error)
        raise


async def aexecute(
    operation: Operation[T], client: httpx.AsyncClient, policy: RetryPolicy = DEFAULT_POLICY
) -> T:
    """Run ``operation`` to completion on an async client (the triggerer); raises as :func:`execute`."""
    seen = Seen()
    try:
        return await adrive(operation, partial(_aexchange, client, policy, seen))
    except RemoteTaskError as error:
        seen.noted(error)
        raise


# A gateway's answer: the server behind it may have received the request and acted on it.
GATEWAY_STATUSES = frozenset({502, 504})


class Seen:
    """What the requests of one operation met, for what its error may say (nothing is known otherwise)."""

    def __init__(self) -> None:
        # Of the request being sent: why its last try that was sent got no answer of the platform's own ("" when
        # every try so far failed before sending, or a later try got an answer).
        self.lost = ""
        self._request: HttpRequest | None = None
        self._lost_before = False  # a request sent earlier in the operation

    @property
    def endpoint(self) -> str:
        """The method and URL (without query) of the request sent last, "" before any: worked out only when an
        error asks for it (parsing the URL on every request was a measurable share of a status call's CPU)."""
        return "" if self._request is None else f"{self._request.method} {where(self._request.url)}"

    @property
    def answer_lost(self) -> bool:
        """Whether a request that starts or changes a run (:attr:`HttpRequest.starts_run`) may have reached the
        platform while no answer came back to it, so the platform may have acted on it."""
        current = self._request is not None and self._request.starts_run and bool(self.lost)
        return self._lost_before or current

    def sending(self, request: HttpRequest) -> None:
        self._lost_before = self.answer_lost
        self._request, self.lost = request, ""

    def failed(self, error: httpx.HTTPError | None) -> None:
        """A try got no answer (``error``) or a gateway's (``None``)."""
        if not isinstance(error, UNSENT_ERRORS):  # a connect error means this try sent nothing
            self.lost = type(error).__name__ if error is not None else "a gateway answered in its place"

    def answered(self) -> None:
        """A try got the platform's answer: what earlier tries of the same request did is known from it (a
        retried request is safe to send twice: it carries an idempotency key, or only reads)."""
        self.lost = ""

    def received(self, response: HttpResponse) -> HttpResponse:
        """A try got ``response``: a gateway's stands in for no answer, any other is the platform's."""
        if response.status in GATEWAY_STATUSES:
            self.failed(None)
        else:
            self.answered()
        return response

    def noted(self, error: RemoteTaskError) -> RemoteTaskError:
        error.answer_lost = error.answer_lost or self.answer_lost
        error.endpoint = error.endpoint or self.endpoint
        return error


def _exchange(client: httpx.Client, policy: RetryPolicy, seen: Seen, request: HttpRequest) -> HttpResponse:
    if request.pause > 0:
        time.sleep(request.pause)
    seen.sending(request)
    retrying = tenacity.Retrying(**policy.tenacity_arguments(request))
    try:
        response = retrying(_send_checked, client, request, seen)
    except httpx.HTTPError as error:
        raise _transport_error(request, error, _attempts(retrying), seen.lost) from None
    return _received(request, response, _attempts(retrying))


async def _aexchange(
    client: httpx.AsyncClient, policy: RetryPolicy, seen: Seen, request: HttpRequest
) -> HttpResponse:
    if request.pause > 0:
        await asyncio.sleep(request.pause)
    seen.sending(request)
    retrying = tenacity.AsyncRetrying(**policy.tenacity_arguments(request))
    try:
        send = partial(retrying, _asend_checked, client, request, seen)
        response = await (_SHARED_ANSWERS.get(request.share, send) if request.share else send())
    except httpx.HTTPError as error:
        raise _transport_error(request, error, _attempts(retrying), seen.lost) from None
    return _received(request, response, _attempts(retrying))


# Requests with the same ``share`` key sent at the same time on one loop get one answer (HttpRequest.share).
_SHARED_ANSWERS: SingleFlight[HttpResponse] = SingleFlight()


def _attempts(retrying: tenacity.BaseRetrying) -> int:
    return int(retrying.statistics.get("attempt_number", 1))


def _received(request: HttpRequest, response: HttpResponse, attempts: int) -> HttpResponse:
    """The answer, with how often it was asked for. No API call of a platform redirects: a 3xx means the
    endpoint is not the API's own (http:// where the server wants https://, a login page, a moved host)."""
    if 300 <= response.status < 400:
        location = next((v for k, v in response.headers.items() if k.lower() == "location"), "")
        target = httpx.URL(location).copy_with(query=None, fragment=None) if location else None
        home = origin(request.url)
        raise ConfigurationError(
            f"{request.method} {home}{httpx.URL(request.url).path} was answered with a redirect (HTTP "
            f"{response.status}) to {str(target) if target else 'nowhere'}. Set the connection's endpoint to "
            "the address the API answers on, often the same URL with https:// instead of http://."
        )
    if 200 <= response.status < 300 and request.sink is None and request.stream is None:
        _check_json(request, response)
    return replace(response, attempts=attempts) if attempts > 1 else response


def _check_json(request: HttpRequest, response: HttpResponse) -> None:
    """Every platform's API answers in JSON: a success status with another body is someone else's page (a
    login page, a proxy's), which asking again will not change.

    :raises UnexpectedAnswerError: naming the URL (no query), the content type and the body's first bytes.
    """
    kind = response.content_type
    if not response.content or kind == "application/json" or kind.endswith("+json"):
        return
    try:
        json.loads(response.content)  # JSON labelled otherwise is still the API's answer
    except ValueError:
        raise UnexpectedAnswerError.of(request.url, response) from None


def _send_checked(client: httpx.Client, request: HttpRequest, seen: Seen) -> HttpResponse:
    try:
        response = send(client, request)
    except httpx.HTTPError as error:
        seen.failed(error)
        raise
    return check_status(request, seen.received(response))


async def _asend_checked(client: httpx.AsyncClient, request: HttpRequest, seen: Seen) -> HttpResponse:
    try:
        response = await asend(client, request)
    except httpx.HTTPError as error:
        seen.failed(error)
        raise
    return check_status(request, seen.received(response))


def _transport_error(
    request: HttpRequest, error: httpx.HTTPError, attempts: int = 1, lost: str = ""
) -> TransportError | ConfigurationError:
    """The error for ``request``'s last try failing with ``error`` after ``attempts`` tries; ``lost``: why an
    earlier try that was sent got no answer (see :attr:`Seen.lost`), so "nothing was sent" is said only when
    no try was."""
    home = origin(request.url)
    certificate = untrusted_certificate(error)
    if certificate is not None:
        return ConfigurationError(
            f"The TLS certificate of {home} is not trusted ({certificate.verify_message}). If the server's "
            "certificate comes from a private CA, set the connection's CA bundle to that CA's PEM file; "
            "turn off 'Verify TLS certificates' only for a test server."
        )
    if isinstance(error, httpx.LocalProtocolError):
        # httpx quotes the refused header in its message: never pass that text on.
        return ConfigurationError(
            f"A request to {home} could not be sent: one of its headers holds a character HTTP does not "
            "allow. Check the connection's credentials and header-name fields for line breaks or spaces."
        )
    kind = type(error).__name__
    detail = redact_headers(str(error), request.headers) or "no detail"
    tries = f" in {attempts} tries" if attempts > 1 else ""
    # Say what is known: a connect error means nothing was sent; after that, the server may have the request.
    if isinstance(error, UNSENT_ERRORS) and lost:
        what = (
            f"Could not reach {home} on the last of {attempts} tries ({kind}: {detail}); an earlier try was sent "
            f"and its answer was lost ({lost})"
        )
    elif isinstance(error, UNSENT_ERRORS):
        what = f"Could not reach {home}{tries} ({kind}: {detail}); nothing was sent"
    elif isinstance(error, httpx.ReadTimeout):
        what = f"{home} sent no answer within the connection's read timeout{tries} ({kind})"
    else:
        what = f"The connection to {home} broke before an answer came back{tries} ({kind}: {detail})"
    return TransportError(
        f"{what}. Check the connection's endpoint and that this machine can reach it (proxy, firewall, TLS "
        "certificate)."
    )
