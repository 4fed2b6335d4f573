"""Reads that hang: a server that never answers fails within the connection's read timeout, a field of every
connection type."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
from loopback_servers import CONNECTIONS, Recorder, connect

from airflow_remote_tasks.core.errors import ConfigurationError, TransportError
from airflow_remote_tasks.core.retry import DEFAULT_POLICY

pytestmark = [pytest.mark.airflow, pytest.mark.usefixtures("airflow_db")]


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A server that accepts connections (the kernel's backlog) and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(32)
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    listener.close()


@pytest.mark.parametrize("platform", list(CONNECTIONS))
def test_a_server_that_never_answers_fails_within_the_read_timeout(platform, silent_server):
    hook = connect(platform, silent_server, read_timeout=0.2)
    started = time.monotonic()
    with pytest.raises(TransportError) as raised:
        hook.run(hook.platform.check_connection())
    took = time.monotonic() - started
    assert "sent no answer within the connection's read timeout in 5 tries" in str(raised.value)
    assert 5 * 0.2 <= took <= DEFAULT_POLICY.longest_try(0.2) + 2.0


def test_the_longest_try_is_read_timeout_times_attempts_plus_backoff():
    assert DEFAULT_POLICY.longest_backoff() == 0.5 + 1 + 2 + 4
    assert DEFAULT_POLICY.longest_try(30) == 157.5
    assert DEFAULT_POLICY.longest_try(30, idempotent=False) == 30


@pytest.mark.parametrize("value", ["soon", 0, -1, True])
def test_a_bad_read_timeout_names_the_field(value, serve):
    with pytest.raises(ConfigurationError, match="The Read timeout of connection 'julep_rules' must be"):
        connect("julep", serve(Recorder()), read_timeout=value).platform  # noqa: B018


def test_the_read_timeout_is_a_field_of_every_connection_type():
    from airflow_remote_tasks.provider_info import provider_info

    for connection in provider_info()["connection-types"]:
        assert connection["conn-fields"]["read_timeout"]["schema"]["default"] == 30
