"""What a failed call may claim: "a run may have started" only after a call that starts one lost its answer;
"nothing was sent" only when no try reached the server."""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Any

import pytest
from loopback_servers import run

from airflow_remote_tasks.core.errors import ApiError, TransportError
from airflow_remote_tasks.core.operation import HttpRequest, Operation
from airflow_remote_tasks.core.retry import RetryPolicy
from airflow_remote_tasks.emulators.server import read_body, send_bytes
from airflow_remote_tasks.operators.remote_task import _submit_failed

pytestmark = [pytest.mark.airflow, pytest.mark.usefixtures("airflow_db")]


def refused_if_answered(request: HttpRequest) -> Operation[None]:
    response = yield request
    raise ApiError(f"The platform refused: HTTP {response.status}", status=response.status)


class Scripted:
    """A loopback server whose n-th request gets the n-th behaviour: ("stall", seconds) or (status, body)."""

    def __init__(self, *script: tuple[Any, Any]) -> None:
        self.script = list(script)
        self.seen: list[str] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await read_body(receive)
        self.seen.append(f"{scope['method']} {scope['path']}")
        what, value = self.script[min(len(self.seen), len(self.script)) - 1]
        if what == "stall":
            await asyncio.sleep(value)
            return
        await send_bytes(send, what, "application/json", value)


@pytest.mark.parametrize("mode", ["worker", "triggerer"])
def test_a_create_whose_retry_got_an_answer_claims_no_lost_answer(mode, serve):
    url = serve(Scripted(("stall", 2.0), (400, b'{"error": "bad input"}')))
    # a create with an idempotency key: its first try's answer is lost, the second is answered
    create = HttpRequest("POST", f"{url}/runs", content=b"{}", starts_run=True)
    with pytest.raises(ApiError) as raised:
        run(refused_if_answered(create), mode)
    assert raised.value.answer_lost is False
    message = str(_submit_failed("t", raised.value))
    assert "The platform refused it, so no run was started." in message
    assert "may have started" not in message


@pytest.mark.parametrize("mode", ["worker", "triggerer"])
def test_a_create_whose_every_try_lost_its_answer_may_have_started_a_run(mode, serve):
    url = serve(Scripted(("stall", 2.0)))
    create = HttpRequest("POST", f"{url}/runs", content=b"{}", starts_run=True)
    with pytest.raises(TransportError) as raised:
        run(refused_if_answered(create), mode, RetryPolicy(attempts=2, initial_backoff=0.01))
    assert raised.value.answer_lost is True
    assert "so a run may have started" in str(_submit_failed("t", raised.value))


class ClosingListener:
    """Accepts one connection and never answers it, then stops listening: later connects are refused."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept_once, daemon=True).start()

    def _accept_once(self) -> None:
        conn, _ = self.sock.accept()
        self.held.append(conn)
        self.sock.close()

    def close(self) -> None:
        for conn in self.held:
            conn.close()


@pytest.mark.parametrize("mode", ["worker", "triggerer"])
@pytest.mark.parametrize("starts_run", [False, True])
def test_a_try_sent_then_refused_connections_never_say_nothing_was_sent(mode, starts_run):
    listener = ClosingListener()
    try:
        request = HttpRequest("POST", f"{listener.url}/graphql", content=b"{}", starts_run=starts_run)
        with pytest.raises(TransportError) as raised:
            run(refused_if_answered(request), mode)
    finally:
        listener.close()
    text = str(raised.value)
    assert "nothing was sent" not in text
    assert "on the last of 5 tries (ConnectError" in text
    assert "an earlier try was sent and its answer was lost (ReadTimeout)" in text
    # a read (GraphQL reads are POSTs too) that lost its answer started nothing
    assert raised.value.answer_lost is starts_run
    assert ("may have started" in str(_submit_failed("t", raised.value))) is starts_run


def test_connections_refused_on_every_try_say_nothing_was_sent():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    listener.close()
    with pytest.raises(TransportError) as raised:
        run(refused_if_answered(HttpRequest("POST", f"{url}/runs", starts_run=True)), "worker")
    assert "in 5 tries (ConnectError" in str(raised.value) and "nothing was sent" in str(raised.value)
    assert raised.value.answer_lost is False
