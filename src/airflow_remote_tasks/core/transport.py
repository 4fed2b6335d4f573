"""httpx clients: settings, and one pooled AsyncClient per event loop shared by every trigger."""

from __future__ import annotations

import asyncio
import importlib.util
import ipaddress
import ssl
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx

from airflow_remote_tasks.core.errors import ConfigurationError
from airflow_remote_tasks.core.loops import PerLoop
from airflow_remote_tasks.core.secrets import register_secret
from airflow_remote_tasks.version import __version__

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
USER_AGENT = f"airflow-provider-remote-tasks/{__version__} httpx/{httpx.__version__}"
DEFAULT_READ_TIMEOUT = 30.0


@dataclass(frozen=True)
class ClientSettings:
    """How to reach a platform's API. Hashable: equal settings share one pooled client per loop."""

    verify: bool = True
    ca_bundle: str = ""  # a PEM file of CAs to trust instead of the system's (private CAs, self-signed)
    http2: bool = False  # negotiated over TLS (ALPN); plain http:// stays on HTTP/1.1
    # An explicit proxy for every request of this connection, e.g. http://user:pass@proxy.corp:3128. Empty:
    # the environment's HTTPS_PROXY / HTTP_PROXY / ALL_PROXY / NO_PROXY, as curl and pip read them.
    proxy: str = ""
    # Seconds a read may wait for the server's next bytes (the connection's "Read timeout"). 30 s: longer than
    # any of the four APIs takes to answer a call, short enough that a server that accepts a call and never
    # answers fails the try in minutes, not hours (see RetryPolicy.longest_try: 157.5 s with the defaults).
    read_timeout: float = DEFAULT_READ_TIMEOUT
    connect_timeout: float = 10.0
    max_connections: int = 50

    def tls(self) -> ssl.SSLContext | bool:
        if not self.verify:
            return False
        if not self.ca_bundle:
            return True
        try:
            return ssl.create_default_context(cafile=self.ca_bundle)
        except (OSError, ssl.SSLError) as error:
            raise ConfigurationError(
                f"The connection's CA bundle {self.ca_bundle!r} cannot be loaded ({error}). Set CA bundle to "
                "a PEM file readable on every worker and triggerer, or clear it to use the system's CAs."
            ) from None

    def transport_options(self) -> dict[str, Any]:
        if self.http2 and importlib.util.find_spec("h2") is None:
            raise ConfigurationError(
                "The connection asks for HTTP/2, but the h2 package is not installed. Install "
                "'airflow-provider-remote-tasks[http2]' on workers and triggerers, or clear the HTTP/2 field."
            )
        return {
            "verify": self.tls(),
            "http2": self.http2,
            "limits": httpx.Limits(
                max_connections=self.max_connections,
                max_keepalive_connections=self.max_connections,
                keepalive_expiry=60.0,  # longer than a poll interval, so polls reuse connections
            ),
        }

    def client_options(self) -> dict[str, Any]:
        return {
            "timeout": httpx.Timeout(self.read_timeout, connect=self.connect_timeout, pool=None),
            "headers": {"User-Agent": USER_AGENT},
            "follow_redirects": False,
        }

    def proxy_routes(self) -> dict[str, str | None]:
        """httpx mount patterns and the proxy each goes through (None: direct). httpx reads the environment
        only for a client without a transport of its own, and these clients have theirs (TLS, HTTP/2, pool
        limits): so the environment is read here, once per client."""
        if self.proxy:
            return {"all://": _checked_proxy(self.proxy, "the connection's Proxy field")}
        return environment_proxies()

    def direct_networks(self) -> tuple[IPNetwork, ...]:
        """NO_PROXY's networks, which the environment's proxies do not serve (none with the Proxy field)."""
        return () if self.proxy else no_proxy_networks()


def environment_proxies() -> dict[str, str | None]:
    """The proxy environment (HTTPS_PROXY, HTTP_PROXY, ALL_PROXY, NO_PROXY, any case) as httpx mount patterns.
    NO_PROXY's networks (10.0.0.0/8) cannot be patterns: see :func:`no_proxy_networks`."""
    found = urllib.request.getproxies()
    routes: dict[str, str | None] = {}
    for scheme in ("all", "http", "https"):
        if found.get(scheme):
            routes[f"{scheme}://"] = _checked_proxy(found[scheme], f"the {scheme.upper()}_PROXY variable")
    if not routes:
        return {}
    for entry in _no_proxy_entries(found):
        if entry == "*":
            return {}
        for pattern in _direct_patterns(entry):
            routes[pattern] = None
    return routes


def no_proxy_networks() -> tuple[IPNetwork, ...]:
    """NO_PROXY's networks (``10.0.0.0/8``, ``fd00::/8``): requests to an address in one go direct."""
    found = urllib.request.getproxies()
    networks = (_network(entry) for entry in _no_proxy_entries(found))
    return tuple(n for n in networks if n is not None and n.num_addresses > 1)


def _no_proxy_entries(found: dict[str, str]) -> list[str]:
    return [entry for entry in (found.get("no") or "").replace(" ", "").split(",") if entry]


def _network(entry: str) -> IPNetwork | None:
    try:
        return ipaddress.ip_network(entry.strip("[]"), strict=False)
    except ValueError:
        return None


def _direct_patterns(entry: str) -> list[str]:
    """The mount patterns of one NO_PROXY entry, as httpx's own ``get_environment_proxies`` writes them: an IPv6
    address in brackets (``::1``, ``[::1]``); a domain (``corp.example``, ``.corp.example``) and every host
    under it. None for a network (:func:`no_proxy_networks`), or for an entry that is no host."""
    network = _network(entry)
    if network is not None:
        if network.num_addresses > 1:
            return []
        address = network.network_address
        patterns = [f"all://[{address}]" if address.version == 6 else f"all://{address}"]
    elif "://" in entry:
        patterns = [entry]
    else:
        host = entry.lstrip(".")
        patterns = [f"all://{host}", f"all://*.{host}"]
    try:
        hosts = [httpx.URL(pattern).host.lstrip("*.") for pattern in patterns]
    except (httpx.InvalidURL, ValueError):
        hosts = []
    # An entry that is no host (":1", "a:b:c") is skipped, as curl skips it, rather than breaking every client.
    return patterns if hosts and all(hosts) else []


def _checked_proxy(url: str, where: str) -> str:
    parsed = httpx.URL(url if "://" in url else f"http://{url}")
    if parsed.scheme not in ("http", "https", "socks5", "socks5h") or not parsed.host:
        raise ConfigurationError(
            f"The proxy in {where} is not a proxy URL; write it as http://host:port (or "
            "http://user:password@host:port)."
        )
    if parsed.password:
        register_secret(parsed.password)
        register_secret(str(parsed))
    return str(parsed)


def sync_client(settings: ClientSettings) -> httpx.Client:
    options = settings.transport_options()
    networks = settings.direct_networks()

    def route(proxy: str | None) -> httpx.BaseTransport:
        if not proxy:
            return httpx.HTTPTransport(**options)
        proxied = httpx.HTTPTransport(proxy=proxy, **options)
        return DirectTo(networks, httpx.HTTPTransport(**options), proxied) if networks else proxied

    mounts = {pattern: route(proxy) for pattern, proxy in settings.proxy_routes().items()}
    return httpx.Client(transport=httpx.HTTPTransport(**options), mounts=mounts, **settings.client_options())


def async_client(settings: ClientSettings) -> httpx.AsyncClient:
    options = settings.transport_options()
    networks = settings.direct_networks()
    slots = asyncio.Semaphore(settings.max_connections)  # one gate for every route of the client

    def route(proxy: str | None) -> httpx.AsyncBaseTransport:
        if not proxy:
            return httpx.AsyncHTTPTransport(**options)
        proxied = httpx.AsyncHTTPTransport(proxy=proxy, **options)
        return AsyncDirectTo(networks, httpx.AsyncHTTPTransport(**options), proxied) if networks else proxied

    mounts: dict[str, httpx.AsyncBaseTransport] = {
        pattern: GatedTransport(route(proxy), slots) for pattern, proxy in settings.proxy_routes().items()
    }
    return httpx.AsyncClient(
        transport=GatedTransport(httpx.AsyncHTTPTransport(**options), slots),
        mounts=mounts,
        **settings.client_options(),
    )


def _in_networks(host: str, networks: tuple[IPNetwork, ...]) -> bool:
    """Whether ``host`` is an IP address in one of ``networks`` (a name is never in one, as for curl)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(address in network for network in networks)


class DirectTo(httpx.BaseTransport):
    """A proxy's route that sends requests to NO_PROXY's networks direct: httpx's mount patterns name hosts,
    never a network such as 10.0.0.0/8."""

    def __init__(
        self, networks: tuple[IPNetwork, ...], direct: httpx.BaseTransport, proxied: httpx.BaseTransport
    ) -> None:
        self._networks, self._direct, self._proxied = networks, direct, proxied

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        route = self._direct if _in_networks(request.url.host, self._networks) else self._proxied
        return route.handle_request(request)

    def close(self) -> None:
        self._direct.close()
        self._proxied.close()


class AsyncDirectTo(httpx.AsyncBaseTransport):
    """:class:`DirectTo` for async clients."""

    def __init__(
        self,
        networks: tuple[IPNetwork, ...],
        direct: httpx.AsyncBaseTransport,
        proxied: httpx.AsyncBaseTransport,
    ) -> None:
        self._networks, self._direct, self._proxied = networks, direct, proxied

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        route = self._direct if _in_networks(request.url.host, self._networks) else self._proxied
        return await route.handle_async_request(request)

    async def aclose(self) -> None:
        await self._direct.aclose()
        await self._proxied.aclose()


class GatedTransport(httpx.AsyncBaseTransport):
    """Lets at most ``slots`` requests into the connection pool; the others wait on a semaphore.

    httpcore's pool re-scans every queued request against every connection whenever a request enters or
    leaves it, so thousands of triggers polling at once would cost more there than in the requests
    themselves. A semaphore queue costs the same at any length.
    """

    def __init__(self, pool: httpx.AsyncBaseTransport, slots: asyncio.Semaphore) -> None:
        self._pool = pool
        self._slots = slots

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await self._slots.acquire()
        try:
            response = await self._pool.handle_async_request(request)
        except BaseException:
            self._slots.release()
            raise
        response.stream = _ReleasingStream(response.stream, self._slots)
        return response

    async def aclose(self) -> None:
        await self._pool.aclose()


class _ReleasingStream(httpx.AsyncByteStream):
    """A response body that gives its pool slot back when closed (the connection is free again then)."""

    def __init__(self, stream: Any, slots: asyncio.Semaphore) -> None:
        self._stream = stream
        self._slots: asyncio.Semaphore | None = slots

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            if self._slots is not None:
                self._slots.release()
                self._slots = None


_shared: PerLoop[httpx.AsyncClient] = PerLoop()


def shared_async_client(settings: ClientSettings) -> httpx.AsyncClient:
    """The AsyncClient for these settings on the running loop, created on first use.

    Every trigger in a triggerer polls through it, so a thousand waits share a few pooled
    (and TLS-resumed) connections instead of opening one per poll.
    """
    return _shared.get(settings, lambda: async_client(settings), usable=lambda client: not client.is_closed)


async def close_shared_clients() -> None:
    """Close this loop's shared clients (tests, benchmarks, and orderly shutdowns)."""
    for client in _shared.pop_running_loop():
        await client.aclose()
