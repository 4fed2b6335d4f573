"""httpx clients: settings, and one pooled AsyncClient per event loop shared by every trigger."""

from __future__ import annotations

import asyncio
import importlib.util
import ssl
import threading
from collections.abc import Hashable
from dataclasses import dataclass

import httpx

from airflow_remote_tasks.core.errors import ConfigurationError
from airflow_remote_tasks.version import __version__

USER_AGENT = f"airflow-provider-remote-tasks/{__version__} httpx/{httpx.__version__}"


@dataclass(frozen=True)
class ClientSettings:
    """How to reach a platform's API. Hashable: equal settings share one pooled client per loop."""

    verify: bool = True
    ca_bundle: str = ""  # a PEM file of CAs to trust instead of the system's (private CAs, self-signed)
    http2: bool = False  # negotiated over TLS (ALPN); plain http:// stays on HTTP/1.1
    timeout: float = 30.0
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

    def options(self) -> dict[str, object]:
        if self.http2 and importlib.util.find_spec("h2") is None:
            raise ConfigurationError(
                "The connection asks for HTTP/2, but the h2 package is not installed. Install "
                "'airflow-provider-remote-tasks[http2]' on workers and triggerers, or clear the HTTP/2 field."
            )
        return {
            "verify": self.tls(),
            "http2": self.http2,
            "timeout": httpx.Timeout(self.timeout, connect=self.connect_timeout, pool=None),
            "limits": httpx.Limits(
                max_connections=self.max_connections,
                max_keepalive_connections=self.max_connections,
                keepalive_expiry=60.0,  # longer than a poll interval, so polls reuse connections
            ),
            "headers": {"User-Agent": USER_AGENT},
            "follow_redirects": False,
        }


def sync_client(settings: ClientSettings) -> httpx.Client:
    return httpx.Client(**settings.options())  # type: ignore[arg-type]


_shared: dict[tuple[int, Hashable], tuple[asyncio.AbstractEventLoop, httpx.AsyncClient]] = {}
_shared_lock = threading.Lock()


def shared_async_client(settings: ClientSettings) -> httpx.AsyncClient:
    """The AsyncClient for these settings on the running loop, created on first use.

    Every trigger in a triggerer polls through it, so a thousand waits share a few pooled
    (and TLS-resumed) connections instead of opening one per poll.
    """
    loop = asyncio.get_running_loop()
    key = (id(loop), settings)
    with _shared_lock:
        for stale in [k for k, (other, _) in _shared.items() if other.is_closed()]:
            del _shared[stale]
        entry = _shared.get(key)
        if entry is None or entry[0] is not loop or entry[1].is_closed:
            entry = (loop, httpx.AsyncClient(**settings.options()))  # type: ignore[arg-type]
            _shared[key] = entry
        return entry[1]


async def close_shared_clients() -> None:
    """Close this loop's shared clients (tests, benchmarks, and orderly shutdowns)."""
    loop = asyncio.get_running_loop()
    with _shared_lock:
        mine = [k for k, (other, _) in _shared.items() if other is loop]
        clients = [_shared.pop(k)[1] for k in mine]
    for client in clients:
        await client.aclose()
