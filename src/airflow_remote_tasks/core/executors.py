"""The only generator drivers: one sync, one async. Operations (HTTP requests) and wait procedures (operations,
sleeps, status reads) are both generators driven here; the executors answer an operation's requests over a
sync or an async httpx client, which are the only places that do I/O.

Everything else (what to send, how to read it, credentials, retry decisions) is shared; the two
executors differ only in ``await``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Generator
from dataclasses import replace
from functools import partial
from typing import Any, TypeVar

import httpx
import tenacity

from airflow_remote_tasks.core.errors import ConfigurationError, TransportError
from airflow_remote_tasks.core.operation import HttpRequest, HttpResponse, Operation
from airflow_remote_tasks.core.retry import DEFAULT_POLICY, RetryPolicy, check_status, untrusted_certificate
from airflow_remote_tasks.core.secrets import redact_headers

T = TypeVar("T")


def drive(generator: Generator[Any, Any, T], answer: Callable[[Any], Any]) -> T:
    """Run ``generator`` to completion in this thread: each value it yields is answered with ``answer(value)``;
    an exception raised by ``answer`` is thrown into the generator, which may handle it."""
    result: Any = None
    error: BaseException | None = None
    while True:
        try:
            step = generator.throw(error) if error is not None else generator.send(result)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        result, error = None, None
        try:
            result = answer(step)
        except Exception as raised:
            error = raised


async def adrive(generator: Generator[Any, Any, T], answer: Callable[[Any], Awaitable[Any]]) -> T:
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
            result = await answer(step)
        except Exception as raised:
            error = raised


def execute(operation: Operation[T], client: httpx.Client, policy: RetryPolicy = DEFAULT_POLICY) -> T:
    """Run ``operation`` to completion on a sync client (the worker). A transport error is thrown into the
    operation, which decides: a submit looks its run up before trying again."""
    return drive(operation, partial(_exchange, client, policy))


async def aexecute(
    operation: Operation[T], client: httpx.AsyncClient, policy: RetryPolicy = DEFAULT_POLICY
) -> T:
    """Run ``operation`` to completion on an async client (the triggerer)."""
    return await adrive(operation, partial(_aexchange, client, policy))


def _exchange(client: httpx.Client, policy: RetryPolicy, request: HttpRequest) -> HttpResponse:
    retrying = tenacity.Retrying(**policy.tenacity_arguments(request))
    try:
        response = retrying(_send_checked, client, request)
    except httpx.HTTPError as error:
        raise _transport_error(request, error, _attempts(retrying)) from None
    return _received(request, response, _attempts(retrying))


async def _aexchange(client: httpx.AsyncClient, policy: RetryPolicy, request: HttpRequest) -> HttpResponse:
    retrying = tenacity.AsyncRetrying(**policy.tenacity_arguments(request))
    try:
        response = await _once_in_flight(request, partial(retrying, _asend_checked, client, request))
    except httpx.HTTPError as error:
        raise _transport_error(request, error, _attempts(retrying)) from None
    return _received(request, response, _attempts(retrying))


_in_flight: dict[tuple[int, str], asyncio.Future[HttpResponse]] = {}


async def _once_in_flight(request: HttpRequest, send: Callable[[], Awaitable[HttpResponse]]) -> HttpResponse:
    """Send ``request``, or wait for the answer to the same shared request already in flight on this loop."""
    if not request.share:
        return await send()
    loop = asyncio.get_running_loop()
    key = (id(loop), request.share)
    pending = _in_flight.get(key)
    if pending is not None:
        return await asyncio.shield(pending)  # a waiter cancelled does not cancel the others' answer
    pending = loop.create_future()
    _in_flight[key] = pending
    try:
        response = await send()
    except BaseException as error:
        pending.set_exception(error)
        pending.exception()  # retrieved: nobody else may be waiting
        raise
    finally:
        _in_flight.pop(key, None)
    pending.set_result(response)
    return response


def _attempts(retrying: tenacity.BaseRetrying) -> int:
    return int(retrying.statistics.get("attempt_number", 1))


def _received(request: HttpRequest, response: HttpResponse, attempts: int) -> HttpResponse:
    """The answer, with how often it was asked for. No API call of a platform redirects: a 3xx means the
    endpoint is not the API's own (http:// where the server wants https://, a login page, a moved host)."""
    if 300 <= response.status < 400:
        location = next((v for k, v in response.headers.items() if k.lower() == "location"), "")
        target = httpx.URL(location).copy_with(query=None, fragment=None) if location else None
        origin = _origin(request.url)
        raise ConfigurationError(
            f"{request.method} {origin}{httpx.URL(request.url).path} was answered with a redirect (HTTP "
            f"{response.status}) to {str(target) if target else 'nowhere'}. Set the connection's endpoint to "
            "the address the API answers on, often the same URL with https:// instead of http://."
        )
    return replace(response, attempts=attempts) if attempts > 1 else response


def _origin(url: str) -> str:
    parsed = httpx.URL(url)
    return f"{parsed.scheme}://{parsed.netloc.decode()}"


def _send_checked(client: httpx.Client, request: HttpRequest) -> HttpResponse:
    return check_status(request, _send(client, request))


async def _asend_checked(client: httpx.AsyncClient, request: HttpRequest) -> HttpResponse:
    return check_status(request, await _asend(client, request))


def _build(client: httpx.Client | httpx.AsyncClient, request: HttpRequest) -> httpx.Request:
    return client.build_request(
        request.method, request.url, headers=dict(request.headers), content=request.content
    )


def _response(raw: httpx.Response, content: bytes) -> HttpResponse:
    return HttpResponse(status=raw.status_code, headers=dict(raw.headers), content=content, url=str(raw.url))


def _send(client: httpx.Client, request: HttpRequest) -> HttpResponse:
    if request.sink is not None:
        raw = client.send(_build(client, request), stream=True, follow_redirects=True)
        try:
            if not raw.is_success:
                return _response(raw, raw.read()[:DOWNLOAD_ERROR_BYTES])
            written = 0
            try:
                for chunk in raw.iter_bytes(DOWNLOAD_CHUNK):
                    request.sink.write(chunk)
                    written += len(chunk)
            except httpx.HTTPError as error:
                raise _broken_download(request, written, error) from error
            return _response(raw, b"")
        finally:
            raw.close()
    limits = request.stream
    if limits is None:
        raw = client.send(_build(client, request))
        return _response(raw, raw.content)
    built = _build(client, request)
    built.extensions["timeout"] = {**built.extensions.get("timeout", {}), "read": limits.idle_timeout}
    raw = client.send(built, stream=True)
    body = bytearray()
    try:
        for chunk in raw.iter_raw():
            body += chunk
            if len(body) >= limits.max_bytes:
                break
    except httpx.ReadTimeout:
        pass  # idle: take what arrived
    finally:
        raw.close()
    return _response(raw, bytes(body))


async def _asend(client: httpx.AsyncClient, request: HttpRequest) -> HttpResponse:
    if request.sink is not None:
        raw = await client.send(_build(client, request), stream=True, follow_redirects=True)
        try:
            if not raw.is_success:
                return _response(raw, (await raw.aread())[:DOWNLOAD_ERROR_BYTES])
            written = 0
            try:
                async for chunk in raw.aiter_bytes(DOWNLOAD_CHUNK):
                    request.sink.write(chunk)
                    written += len(chunk)
            except httpx.HTTPError as error:
                raise _broken_download(request, written, error) from error
            return _response(raw, b"")
        finally:
            await raw.aclose()
    limits = request.stream
    if limits is None:
        raw = await client.send(_build(client, request))
        return _response(raw, raw.content)
    built = _build(client, request)
    built.extensions["timeout"] = {**built.extensions.get("timeout", {}), "read": limits.idle_timeout}
    raw = await client.send(built, stream=True)
    body = bytearray()
    try:
        async for chunk in raw.aiter_raw():
            body += chunk
            if len(body) >= limits.max_bytes:
                break
    except httpx.ReadTimeout:
        pass
    finally:
        await raw.aclose()
    return _response(raw, bytes(body))


# A download is written in pieces of this size: large enough for few writes to object storage, small enough
# that memory stays flat.
DOWNLOAD_CHUNK = 1 << 20
DOWNLOAD_ERROR_BYTES = 64 << 10  # of an error page instead of a download: enough to explain it


class BrokenDownloadError(TransportError):
    """A download broke off after part of it was written: not retried, since the sink already holds a part."""


def _broken_download(request: HttpRequest, written: int, error: httpx.HTTPError) -> BrokenDownloadError:
    url = httpx.URL(request.url)
    return BrokenDownloadError(
        f"The download from {_origin(request.url)}{url.path} broke off after {written:,} bytes "
        f"({type(error).__name__}); what was written is incomplete. A retry of the task downloads it again."
    )


def _transport_error(
    request: HttpRequest, error: httpx.HTTPError, attempts: int = 1
) -> TransportError | ConfigurationError:
    origin = _origin(request.url)
    certificate = untrusted_certificate(error)
    if certificate is not None:
        return ConfigurationError(
            f"The TLS certificate of {origin} is not trusted ({certificate.verify_message}). If the server's "
            "certificate comes from a private CA, set the connection's CA bundle to that CA's PEM file; "
            "turn off 'Verify TLS certificates' only for a test server."
        )
    if isinstance(error, httpx.LocalProtocolError):
        # httpx quotes the refused header in its message: never pass that text on.
        return ConfigurationError(
            f"A request to {origin} could not be sent: one of its headers holds a character HTTP does not "
            "allow. Check the connection's credentials and header-name fields for line breaks or spaces."
        )
    kind = type(error).__name__
    detail = redact_headers(str(error), request.headers) or "no detail"
    tries = f" in {attempts} tries" if attempts > 1 else ""
    return TransportError(
        f"Could not reach {origin}{tries} ({kind}: {detail}). Check the connection's endpoint "
        "and that this machine can reach it (proxy, firewall, TLS certificate)."
    )
