"""Avala inputs of the wrong type read as a user's words, and Avala answers of the wrong shape fail naming the
URL and what came back."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from airflow_remote_tasks.core.errors import InvalidInputsError, RemoteTaskError, UnexpectedAnswerError
from airflow_remote_tasks.emulators.server import ServerThread, send_bytes
from support import AVALA_KEY, set_connection

pytestmark = [pytest.mark.airflow, pytest.mark.usefixtures("airflow_db")]


@pytest.fixture
def serve() -> Iterator[Any]:
    servers: list[ServerThread] = []

    def start(app: Any) -> str:
        servers.append(ServerThread(app).start())
        return servers[-1].url

    yield start
    for server in servers:
        server.stop()


def test_avala_inputs_of_the_wrong_type_read_as_a_users_words(avala):
    from airflow_remote_tasks.platforms.avala.hook import AvalaHook

    hook = AvalaHook("avala_default")
    interface = hook.run(hook.platform.resolve_task("auto_label", "latest"))
    with pytest.raises(InvalidInputsError) as raised:
        hook.platform.prepare_inputs(
            interface,
            {"project": "proj-001", "confidence_threshold": "high", "labels": ["car", 7], "colour": 1},
        )
    text = str(raised.value)
    assert "- inputs.confidence_threshold must be a number; got str" in text
    assert "- inputs.labels[1] must be a string; got int" in text
    assert "- inputs.colour is not known here" in text
    assert "Input should be" not in text


def answering(status: int, body: bytes) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await send_bytes(send, status, "application/json", body)

    return app


@pytest.mark.parametrize(("status", "body"), [(200, b"{}"), (204, b""), (200, b'{"results": [1]}')])
def test_avala_connection_test_fails_on_an_answer_that_is_no_page(status, body, serve):
    from airflow_remote_tasks.registry import hook_for_connection

    url = serve(answering(status, body))
    set_connection("avala_shape", "remote_tasks_avala", url, AVALA_KEY, {})
    ok, message = hook_for_connection("avala_shape").test_connection()
    assert not ok
    assert f"{url}/users/me/projects/" in message and "which is not an Avala page" in message
    assert (repr(body.decode()) if body else "an empty body") in message


def test_avala_task_answered_with_a_list_is_an_unexpected_answer(serve):
    from airflow_remote_tasks.core.models import RunRef
    from airflow_remote_tasks.registry import hook_for_connection

    url = serve(answering(200, b"[1,2,3]"))
    set_connection("avala_shape", "remote_tasks_avala", url, AVALA_KEY, {})
    hook = hook_for_connection("avala_shape")
    with pytest.raises(UnexpectedAnswerError) as raised:
        hook.run(hook.platform.status(RunRef(platform="avala", run_id="t-1", scope={"kind": "task"})))
    assert f"{url}/tasks/t-1/" in str(raised.value) and "'[1,2,3]'" in str(raised.value)
    assert isinstance(raised.value, RemoteTaskError)


@pytest.fixture(autouse=True)
def _forget_connections() -> Iterator[None]:
    yield
    import os

    os.environ.pop("AIRFLOW_CONN_AVALA_SHAPE", None)
