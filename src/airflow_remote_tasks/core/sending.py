"""One try of a request over an httpx client: the request built from an :class:`HttpRequest`, and its answer read
whole, up to a stream's limits, or into a download's sink (following its redirects, with the request's own
headers kept to the API's origin). The executors around it decide what a try's outcome means.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx

from airflow_remote_tasks.core.errors import TransportError, where
from airflow_remote_tasks.core.operation import Body, HttpRequest, HttpResponse, origin
from airflow_remote_tasks.core.secrets import PLAIN_HEADERS

# A download follows this many redirects at most (a signed URL, a CDN): more is a loop, not a way to the file.
MAX_REDIRECTS = 10


def _next_hop(request: HttpRequest, raw: httpx.Response, hops: int) -> httpx.Request | None:
    """Where a download's redirect leads, or None when ``raw`` is no redirect. httpx drops only
    ``Authorization`` when a redirect leaves the origin; an API key in a header of its own would go along. So
    off the API's origin a hop carries none of the request's own headers but the plain ones.

    :raises TransportError: after :data:`MAX_REDIRECTS` hops.
    """
    if not raw.has_redirect_location or raw.next_request is None:
        return None
    if hops >= MAX_REDIRECTS:
        raise TransportError(
            f"The download from {where(request.url)} was redirected more than {MAX_REDIRECTS} times."
        )
    hop = raw.next_request
    if origin(str(hop.url)) != origin(request.url):
        for name in (*request.headers, "authorization", "cookie"):
            if name.lower() not in PLAIN_HEADERS:
                hop.headers.pop(name, None)
    return hop


def _build(client: httpx.Client | httpx.AsyncClient, request: HttpRequest) -> httpx.Request:
    content: Any = request.content
    if content is not None and not isinstance(content, bytes):
        # A Body: read from its start for each try; an async client takes its pieces asynchronously.
        content = _achunks(content) if isinstance(client, httpx.AsyncClient) else content.chunks()
    return client.build_request(request.method, request.url, headers=dict(request.headers), content=content)


async def _achunks(body: Body) -> AsyncIterator[bytes]:
    for chunk in body.chunks():
        yield chunk


def _response(raw: httpx.Response, content: bytes) -> HttpResponse:
    return HttpResponse(status=raw.status_code, headers=dict(raw.headers), content=content, url=str(raw.url))


def send(client: httpx.Client, request: HttpRequest) -> HttpResponse:
    """One try of ``request``.

    :raises httpx.HTTPError: no answer came; :raises BrokenDownloadError: a download broke off after part of
        it was written; :raises TransportError: a download was redirected too often.
    """
    if request.sink is not None:
        raw = client.send(_build(client, request), stream=True)
        try:
            hops = 0
            while (hop := _next_hop(request, raw, hops)) is not None:
                raw.close()
                raw, hops = client.send(hop, stream=True), hops + 1
            if not raw.is_success:
                return _response(raw, _first_bytes(raw.iter_bytes(), DOWNLOAD_ERROR_BYTES))
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


async def asend(client: httpx.AsyncClient, request: HttpRequest) -> HttpResponse:
    """:func:`send` on an async client; raises as it does."""
    if request.sink is not None:
        raw = await client.send(_build(client, request), stream=True)
        try:
            hops = 0
            while (hop := _next_hop(request, raw, hops)) is not None:
                await raw.aclose()
                raw, hops = await client.send(hop, stream=True), hops + 1
            if not raw.is_success:
                return _response(raw, await _afirst_bytes(raw.aiter_bytes(), DOWNLOAD_ERROR_BYTES))
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


def _first_bytes(chunks: Iterator[bytes], limit: int) -> bytes:
    """At most ``limit`` bytes of a body: an error page instead of a download may be huge, or never end."""
    body = bytearray()
    for chunk in chunks:
        body += chunk
        if len(body) >= limit:
            break
    return bytes(body[:limit])


async def _afirst_bytes(chunks: AsyncIterator[bytes], limit: int) -> bytes:
    """:func:`_first_bytes` of an async body."""
    body = bytearray()
    async for chunk in chunks:
        body += chunk
        if len(body) >= limit:
            break
    return bytes(body[:limit])


class BrokenDownloadError(TransportError):
    """A download broke off after part of it was written: not retried, since the sink already holds a part."""


def _broken_download(request: HttpRequest, written: int, error: httpx.HTTPError) -> BrokenDownloadError:
    url = httpx.URL(request.url)
    return BrokenDownloadError(
        f"The download from {origin(request.url)}{url.path} broke off after {written:,} bytes "
        f"({type(error).__name__}); what was written is incomplete. A retry of the task downloads it again."
    )
