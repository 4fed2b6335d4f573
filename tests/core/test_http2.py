"""TLS and HTTP/2: the Flyte emulator behind hypercorn with a certificate from a private CA."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from hypercorn.asyncio import serve
from hypercorn.config import Config

from airflow_helpers import run_dag
from airflow_remote_tasks.core.errors import ConfigurationError
from airflow_remote_tasks.core.transport import ClientSettings
from airflow_remote_tasks.emulators.flyte import FlyteEmulator
from airflow_remote_tasks.platforms.flyte.hook import FlyteHook


class TlsServer:
    """Serve an ASGI app over TLS with ALPN h2 + http/1.1, recording the HTTP version of each API call."""

    def __init__(self, app, cert: trustme.LeafCert, workdir: Path) -> None:
        self.versions: list[str] = []
        self._app = app
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.url = f"https://localhost:{sock.getsockname()[1]}"
        pem = workdir / "server.pem"
        cert.private_key_and_cert_chain_pem.write_to_path(str(pem))
        self.config = Config()
        self.config.bind = [f"fd://{sock.detach()}"]  # hypercorn owns and closes it
        self.config.certfile = self.config.keyfile = str(pem)
        self.config.loglevel = "WARNING"
        self._stop: asyncio.Event | None = None
        self._started = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.thread = threading.Thread(target=lambda: asyncio.run(self._serve()), daemon=True)

    async def _record(self, scope, receive, send) -> None:
        if scope["type"] == "http" and not scope["path"].startswith(("/_emulator", "/healthz")):
            self.versions.append(scope["http_version"])
        await self._app(scope, receive, send)

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        # Python 3.11's stream callback reports connections cancelled at shutdown as errors
        self._loop.set_exception_handler(
            lambda loop, context: (
                None
                if isinstance(context.get("exception"), asyncio.CancelledError)
                else loop.default_exception_handler(context)
            )
        )
        self._stop = asyncio.Event()
        self._started.set()
        await serve(self._record, self.config, shutdown_trigger=self._stop.wait)  # type: ignore[arg-type]

    def __enter__(self) -> TlsServer:
        self.thread.start()
        self._started.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None and self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self.thread.join(10)


@pytest.fixture
def tls_flyte(tmp_path) -> Iterator[tuple[TlsServer, FlyteEmulator, Path]]:
    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    emulator = FlyteEmulator(queue_seconds=0.1, run_seconds=0.4)
    with TlsServer(emulator.app, ca.issue_cert("localhost", "127.0.0.1"), tmp_path) as server:
        yield server, emulator, ca_file
    os.environ.pop("AIRFLOW_CONN_FLYTE_DEFAULT", None)


def connect(url: str, **extra: object) -> None:
    os.environ["AIRFLOW_CONN_FLYTE_DEFAULT"] = json.dumps(
        {"conn_type": "remote_tasks_flyte", "host": url, "extra": extra}
    )


@pytest.mark.airflow
@pytest.mark.usefixtures("airflow_db")
@pytest.mark.parametrize("mode", ["deferred", "worker"])
def test_dag_runs_over_http2_with_a_private_ca(tls_flyte, mode):
    server, emulator, ca_file = tls_flyte
    connect(server.url, ca_bundle=str(ca_file), http2=True)
    result = run_dag(f"t_hello_{mode}")
    assert result.state == "success"
    assert result.xcom("collect") == "Hello, Grace! Hello, Grace!"
    assert len(emulator.state.summary()) == 1
    # task lookup, CreateRun, GetRunDetails polls, outputs: every call went over HTTP/2
    assert len(server.versions) >= 4
    assert set(server.versions) == {"2"}


@pytest.mark.usefixtures("airflow_db")
def test_without_http2_the_same_server_speaks_http1(tls_flyte):
    server, _, ca_file = tls_flyte
    connect(server.url, ca_bundle=str(ca_file))
    ok, message = FlyteHook("flyte_default").test_connection()
    assert ok, message
    assert set(server.versions) == {"1.1"}


@pytest.mark.usefixtures("airflow_db")
def test_an_untrusted_certificate_is_refused_with_a_hint(tls_flyte, caplog):
    server, emulator, _ = tls_flyte
    connect(server.url, http2=True)  # no CA bundle: the system's CAs do not know this one
    ok, message = FlyteHook("flyte_default").test_connection()
    assert not ok
    assert "CERTIFICATE_VERIFY_FAILED" in message or "certificate" in message.lower()
    assert "CA bundle" in message
    assert server.versions == []  # the handshake failed before any request
    assert "retrying" not in caplog.text  # the same certificate would come back
    assert emulator.state.summary() == []


def test_a_missing_ca_bundle_names_the_field(tmp_path):
    settings = ClientSettings(ca_bundle=str(tmp_path / "missing.pem"))
    with pytest.raises(ConfigurationError, match=r"CA bundle .* cannot be loaded"):
        settings.transport_options()


def test_http2_without_h2_names_the_extra(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "h2" else real(name, *a)
    )
    with pytest.raises(ConfigurationError, match=r"airflow-provider-remote-tasks\[http2\]"):
        ClientSettings(http2=True).transport_options()
    assert ClientSettings().transport_options()["http2"] is False
