"""Corporate proxies: the environment's HTTP(S)_PROXY / NO_PROXY and the connection's Proxy URL field, through
a real forwarding proxy (proxy.py) on loopback, for plain HTTP and for HTTPS through CONNECT."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from test_http2 import connect as connect_tls
from test_http2 import tls_flyte  # noqa: F401  (fixture)

from airflow_helpers import run_dag
from airflow_remote_tasks.core.errors import ConfigurationError
from airflow_remote_tasks.core.secrets import derived_forms
from airflow_remote_tasks.core.transport import ClientSettings, environment_proxies
from support import JULEP_KEY

pytestmark = [pytest.mark.airflow, pytest.mark.usefixtures("airflow_db")]

PROXY_USER, PROXY_PASSWORD = "corp", "proxy-PASS-31337"


@dataclass
class ForwardProxy:
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url_with_login(self) -> str:
        return f"http://{PROXY_USER}:{PROXY_PASSWORD}@127.0.0.1:{self.port}"

    def access_log(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def connections_to(self, address: str) -> int:
        """How many connections the proxy opened to ``address`` (host:port) for its clients."""
        return self.access_log().count(f"Connecting to upstream {address}")


def start_proxy(tmp_path: Path, *extra: str) -> Iterator[ForwardProxy]:
    port_file, log = tmp_path / "proxy.port", tmp_path / "proxy.log"
    command = [sys.executable, "-m", "proxy", "--hostname", "127.0.0.1", "--port", "0"]
    command += ["--port-file", str(port_file), "--log-file", str(log), "--num-workers", "1"]
    # debug level: the most the proxy ever writes, where a credential would show if it showed anywhere
    command += ["--num-acceptors", "1", "--log-level", "d", *extra]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            assert process.poll() is None and time.monotonic() < deadline, "proxy.py did not start"
            time.sleep(0.05)
        yield ForwardProxy(int(port_file.read_text().split()[0]), log)
    finally:
        os.kill(process.pid, signal.SIGTERM)
        process.wait(10)


@pytest.fixture
def proxy(tmp_path) -> Iterator[ForwardProxy]:
    yield from start_proxy(tmp_path)


@pytest.fixture
def proxy_with_login(tmp_path) -> Iterator[ForwardProxy]:
    yield from start_proxy(tmp_path, "--basic-auth", f"{PROXY_USER}:{PROXY_PASSWORD}")


def julep_address(julep) -> str:
    return julep.url.split("//", 1)[1].split("/", 1)[0]


@pytest.mark.parametrize("mode", ["deferred", "worker"])
def test_connection_proxy_field_carries_plain_http(julep, proxy_with_login, mode, capfd):
    julep.connect(proxy=proxy_with_login.url_with_login)
    result = run_dag(f"j_hello_{mode}")
    assert result.state == "success"
    log = proxy_with_login.access_log()
    assert proxy_with_login.connections_to(julep_address(julep)) > 0  # the calls went through the proxy
    assert julep.executions[0]["status"] == "succeeded"  # and the API got the key: it answered
    out = capfd.readouterr()
    for secret in (JULEP_KEY, PROXY_PASSWORD):
        for form in derived_forms(secret):
            assert form not in log, "a credential is in the proxy's log"
            assert form not in out.out + out.err, "a credential is in the task log"


@pytest.mark.parametrize("mode", ["deferred", "worker"])
def test_environment_proxy_and_no_proxy(julep, proxy, mode, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    result = run_dag(f"j_hello_{mode}")
    assert result.state == "success"
    through = proxy.connections_to(julep_address(julep))
    assert through > 0
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    result = run_dag(f"j_hello_{mode}")
    assert result.state == "success"
    assert proxy.connections_to(julep_address(julep)) == through  # NO_PROXY: straight to the API


@pytest.mark.parametrize("mode", ["deferred", "worker"])
def test_https_through_connect(tls_flyte, proxy, mode, monkeypatch):  # noqa: F811
    server, emulator, ca_file = tls_flyte
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    connect_tls(server.url, ca_bundle=str(ca_file))
    result = run_dag(f"t_hello_{mode}")
    assert result.state == "success"
    assert len(emulator.state.summary()) == 1
    port = server.url.rsplit(":", 1)[1]
    assert proxy.connections_to(f"localhost:{port}") > 0  # a CONNECT tunnel to the TLS server


def test_proxy_routes_from_the_environment(monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    assert environment_proxies() == {}
    monkeypatch.setenv("HTTPS_PROXY", "proxy.corp:3128")
    monkeypatch.setenv("NO_PROXY", ".internal, api.local")
    assert environment_proxies() == {
        "https://": "http://proxy.corp:3128",
        "all://internal": None,
        "all://*.internal": None,
        "all://api.local": None,
        "all://*.api.local": None,
    }
    monkeypatch.setenv("NO_PROXY", "*")
    assert environment_proxies() == {}
    assert ClientSettings(proxy="http://p:1").proxy_routes() == {"all://": "http://p:1"}
    with pytest.raises(ConfigurationError, match="Proxy field is not a proxy URL"):
        ClientSettings(proxy="ftp://p").proxy_routes()
