"""The two places that do I/O: drive an operation over a sync or an async httpx client.

Everything else (what to send, how to read it, credentials, retry decisions) is shared; the two
executors differ only in ``await``.
"""

from __future__ import annotations

from typing import TypeVar

import httpx
import tenacity

from airflow_remote_tasks.core.errors import ConfigurationError, TransportError
from airflow_remote_tasks.core.operation import HttpRequest, HttpResponse, Operation
from airflow_remote_tasks.core.retry import DEFAULT_POLICY, RetryPolicy, check_status, untrusted_certificate
from airflow_remote_tasks.core.secrets import redact_headers

T = TypeVar("T")


def execute(operation: Operation[T], client: httpx.Client, policy: RetryPolicy = DEFAULT_POLICY) -> T:
    """Run ``operation`` to completion on a sync client (the worker)."""
    try:
        request = next(operation)
        while True:
            retrying = tenacity.Retrying(**policy.tenacity_arguments(request))
            try:
                response = retrying(_send_checked, client, request)
            except httpx.HTTPError as error:
                # The operation decides: a submit looks its run up before trying again.
                request = operation.throw(_transport_error(request, error))
                continue
            request = operation.send(response)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]


async def aexecute(
    operation: Operation[T], client: httpx.AsyncClient, policy: RetryPolicy = DEFAULT_POLICY
) -> T:
    """Run ``operation`` to completion on an async client (the triggerer)."""
    try:
        request = next(operation)
        while True:
            retrying = tenacity.AsyncRetrying(**policy.tenacity_arguments(request))
            try:
                response: HttpResponse = await retrying(_asend_checked, client, request)
            except httpx.HTTPError as error:
                request = operation.throw(_transport_error(request, error))
                continue
            request = operation.send(response)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]


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


def _transport_error(request: HttpRequest, error: httpx.HTTPError) -> TransportError | ConfigurationError:
    url = httpx.URL(request.url)
    origin = f"{url.scheme}://{url.netloc.decode()}"
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
    return TransportError(
        f"Could not reach {origin} ({kind}: {detail}). Check the connection's endpoint "
        "and that this machine can reach it (proxy, firewall, TLS certificate)."
    )
