"""NO_PROXY as it is commonly written (IPv6 loopback, bracketed addresses, networks, entries that are no host):
every client still builds, the hosts it names are reached directly, and the others through the proxy. The proxy
here is a loopback server that answers every request sent to it, so what went through it is what it saw."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_remote_tasks.core.transport import ClientSettings, async_client, environment_proxies, sync_client
from airflow_remote_tasks.emulators.server import ServerThread, send_bytes

COMMON = "localhost,127.0.0.1,::1"


class Seen:
    """Answers 200 naming itself, and keeps the URL of each request it got (a proxy gets absolute URLs)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.urls: list[str] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.urls.append(scope["path"])
            await send_bytes(send, 200, "text/plain", self.name.encode())


@pytest.fixture
def servers() -> Iterator[Any]:
    started: list[ServerThread] = []

    def start(app: Any, host: str = "127.0.0.1") -> str:
        started.append(ServerThread(app, host=host).start())
        return started[-1].url

    yield start
    for server in started:
        server.stop()


def get(url: str, mode: str) -> str:
    """GET ``url`` with a client built from the environment, the worker's or the triggerer's; the body."""
    if mode == "worker":
        with sync_client(ClientSettings()) as client:
            return client.get(url).text

    async def fetch() -> str:
        async with async_client(ClientSettings()) as client:
            return (await client.get(url)).text

    return asyncio.run(fetch())


def proxied_environment(monkeypatch: pytest.MonkeyPatch, proxy_url: str, no_proxy: str) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", proxy_url)
    monkeypatch.setenv("HTTPS_PROXY", proxy_url)
    monkeypatch.setenv("NO_PROXY", no_proxy)
    monkeypatch.delenv("no_proxy", raising=False)


@pytest.mark.parametrize("mode", ["worker", "triggerer"])
@pytest.mark.parametrize("no_proxy", [COMMON, "localhost,127.0.0.1,[::1]", "::1 , 127.0.0.1"])
def test_a_common_no_proxy_with_ipv6_loopback_builds_every_client(no_proxy, mode, monkeypatch, servers):
    proxy = Seen("proxy")
    proxy_url = servers(proxy)
    target_url = servers(Seen("target"))
    v6_url = servers(Seen("target6"), host="::1")
    proxied_environment(monkeypatch, proxy_url, no_proxy)
    assert environment_proxies()["all://[::1]"] is None
    assert get(f"{target_url}/direct", mode) == "target"
    assert get(f"{v6_url}/direct6", mode) == "target6"
    assert get("http://elsewhere.example/through", mode) == "proxy"
    assert proxy.urls == ["/through"]


@pytest.mark.parametrize("mode", ["worker", "triggerer"])
def test_a_no_proxy_network_is_reached_directly(mode, monkeypatch, servers):
    proxy = Seen("proxy")
    proxy_url = servers(proxy)
    target_url = servers(Seen("target"), host="127.0.0.2")  # in 127.0.0.0/8, named by no host pattern
    proxied_environment(monkeypatch, proxy_url, "localhost,127.0.0.0/8,10.0.0.0/8")
    assert get(f"{target_url}/direct", mode) == "target"
    assert get("http://elsewhere.example/through", mode) == "proxy"
    assert proxy.urls == ["/through"]


@pytest.mark.parametrize("mode", ["worker", "triggerer"])
def test_no_proxy_entries_that_are_no_host_are_skipped(mode, monkeypatch, servers):
    proxy = Seen("proxy")
    target_url = servers(Seen("target"))
    proxied_environment(monkeypatch, servers(proxy), "[::1,a:b:c,:1,127.0.0.1")
    assert get(f"{target_url}/direct", mode) == "target"
    assert proxy.urls == []
    assert not any("a:b:c" in pattern or pattern.endswith(":1") for pattern in environment_proxies())
