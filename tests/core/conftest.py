"""The core's tests: loopback servers started on demand, and the connections the rules' tests define forgotten
after each test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_remote_tasks.emulators.server import ServerThread


@pytest.fixture
def serve() -> Iterator[Any]:
    """Start recorders (or wrapped apps) on loopback ports of their own; each is stopped at the end."""
    servers: list[ServerThread] = []

    def start(app: Any) -> str:
        server = ServerThread(app).start()
        servers.append(server)
        return server.url

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(autouse=True)
def forget_rule_connections() -> Iterator[None]:
    """The connections ``connect`` defined are gone after each test (``loopback_servers.connect``)."""
    yield
    for key in [k for k in os.environ if k.endswith("_RULES") or k == "AIRFLOW_CONN_REFUSED_CONN"]:
        os.environ.pop(key, None)
