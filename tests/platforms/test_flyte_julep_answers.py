"""Flyte and Julep answers go through the core's rule for success bodies: JSON is the API's answer whatever its
label, and anything else (a login or proxy page) is an UnexpectedAnswerError that is not retried."""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from airflow_helpers import run_dag
from airflow_remote_tasks.core.errors import PermanentError, UnexpectedAnswerError
from airflow_remote_tasks.core.models import RunOrigin, RunRef
from airflow_remote_tasks.core.operation import HttpResponse, StreamLimits
from airflow_remote_tasks.core.phases import Phase
from airflow_remote_tasks.emulators.julep import DEMO_AGENT_ID
from airflow_remote_tasks.emulators.server import ASGIApp, Receive, Scope, Send, ServerThread
from airflow_remote_tasks.platforms.flyte import connect
from airflow_remote_tasks.platforms.flyte.hook import FlyteHook
from airflow_remote_tasks.platforms.julep.hook import JulepHook
from support import set_connection

WAITS = {"name": "waits", "main": [{"sleep": {"days": 1}}, {"return": {"text": "$ 'late'"}}]}


def relabelled(app: ASGIApp, content_type: bytes) -> ASGIApp:
    """``app`` behind a proxy that gives every answer another content type (the body is left alone)."""

    async def proxy(scope: Scope, receive: Receive, send: Send) -> None:
        async def relabel(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message["headers"] if k.lower() != b"content-type"]
                message = {**message, "headers": [*headers, (b"content-type", content_type)]}
            await send(message)

        await app(scope, receive, relabel)

    return proxy


@pytest.fixture
def portal() -> Iterator[tuple[str, list[str]]]:
    """A sign-in page that answers every request with 200 and HTML, and the paths it was asked for."""
    asked: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        asked.append(scope["path"])
        body = b"<!doctype html><title>Sign in</title><form>Corporate sign-in</form>"
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/html")]}
        )
        await send({"type": "http.response.body", "body": body})

    with ServerThread(app) as server:
        yield server.url, asked


def test_flyte_takes_json_labelled_otherwise(flyte):
    with ServerThread(relabelled(flyte.emulator.app, b"text/plain")) as proxy:
        flyte.connect(host=proxy.url)
        ok, message = FlyteHook("flyte_default").test_connection()
    assert ok, message
    assert message.startswith(f"Connected to Flyte at {proxy.url}: project flytesnacks/development answers")


def test_julep_takes_json_labelled_otherwise(julep):
    with ServerThread(relabelled(julep.emulator.app, b"text/plain; charset=utf-8")) as proxy:
        julep.connect(host=proxy.url + "/api")
        ok, message = JulepHook("julep_default").test_connection()
    assert ok, message
    assert (
        message
        == f"Connected to Julep at {proxy.url}/api: agent 'Airflow demo agent' (5e1f0000-0000-4000-8000-000000000001) answers."
    )


@pytest.mark.parametrize(
    ("hook", "host", "conn_id", "conn_type"),
    [
        (FlyteHook, "", "flyte_default", "remote_tasks_flyte"),
        (JulepHook, "/api", "julep_default", "remote_tasks_julep"),
    ],
)
def test_a_sign_in_page_is_named_once_and_not_retried(portal, hook, host, conn_id, conn_type, monkeypatch):

    url, asked = portal
    set_connection(conn_id, conn_type, url + host, "" if conn_type.endswith("flyte") else "k", {})
    platform_hook = hook(conn_id)
    with pytest.raises(UnexpectedAnswerError) as raised:
        platform_hook.run(platform_hook.platform.check_connection())
    assert isinstance(raised.value, PermanentError)  # Airflow does not retry it
    assert "answered HTTP 200 with text/html, which is not the API's JSON" in str(raised.value)
    assert "Corporate sign-in" in str(raised.value)
    assert len(asked) == 1
    monkeypatch.delenv(f"AIRFLOW_CONN_{conn_id.upper()}")


def test_a_flyte_stream_message_that_is_not_json_is_an_unexpected_answer():
    payload = b"<html>oops</html>"
    body = struct.pack(">BI", 0, len(payload)) + payload
    operation = connect.server_stream("http://flyte.test", "x.Y/Z", {}, StreamLimits())
    next(operation)
    answer = HttpResponse(
        200, {"content-type": "application/connect+json"}, body, url="http://flyte.test/x.Y/Z"
    )
    with pytest.raises(UnexpectedAnswerError, match=r"http://flyte.test/x.Y/Z answered HTTP 200"):
        operation.send(answer)


# -- status words no table has ----------------------------------------------------------------------------


def flyte_run(hook: FlyteHook) -> RunRef:
    platform = hook.platform
    interface = hook.run(platform.resolve_task("demo.sleep", "latest"))
    wire = platform.prepare_inputs(interface, {"seconds": 60})
    origin = RunOrigin(dag_id="d", run_id="r", task_id="t")
    return hook.run(platform.submit(interface, wire, origin=origin, labels={}, env={}))


@pytest.mark.parametrize("reported", [11, "ACTION_PHASE_WAITING_FOR_SIGNAL"])
def test_a_flyte_phase_no_table_has_counts_as_unknown(flyte, reported):
    hook = FlyteHook("flyte_default")
    ref = flyte_run(hook)
    # A newer server's phase: as a number the enum does not know (what the emulator's proto sends), or a name.
    if isinstance(reported, int):
        httpx.post(f"{flyte.url}/_emulator/report-phase", json={"run": ref.run_id, "phase": reported})
        status = hook.run(hook.platform.status(ref))
        assert status.raw_phase == "ACTION_PHASE_11"
    else:
        operation = hook.platform.status(ref)
        request = next(operation)
        assert request.url.endswith("/flyteidl2.workflow.RunService/GetRunDetails")
        body = {"details": {"action": {"status": {"phase": reported, "attempts": 1}}}}
        with pytest.raises(StopIteration) as done:
            operation.send(HttpResponse(200, {"content-type": "application/json"}, json.dumps(body).encode()))
        status = done.value.value
        assert status.raw_phase == reported
    assert status.phase is Phase.UNKNOWN and not status.is_terminal


def test_a_julep_status_no_table_has_counts_as_unknown(julep):
    hook = JulepHook("julep_default")
    interface = hook.run(hook.platform.resolve_task(WAITS, "latest"))
    origin = RunOrigin(dag_id="d", run_id="r", task_id="t")
    ref = hook.run(hook.platform.submit(interface, {}, origin=origin, labels={}, env={}))
    answer = httpx.post(
        f"{julep.server.url}/_emulator/report-status", json={"execution_id": ref.run_id, "status": "paused"}
    )
    assert answer.json()["status"] == "paused"
    status = hook.run(hook.platform.status(ref))
    assert status.raw_phase == "paused"
    assert status.phase is Phase.UNKNOWN and not status.is_terminal


@pytest.mark.usefixtures("airflow_db")
def test_a_wait_on_an_unknown_flyte_phase_names_it_and_does_not_finish(flyte, capfd):
    ref = flyte_run(FlyteHook("flyte_default"))
    httpx.post(f"{flyte.url}/_emulator/report-phase", json={"run": ref.run_id, "phase": 11})
    result = run_dag("t_sensor_short", conf={"run": ref.run_id})
    assert result.task_state("sensor_poke") == "failed"  # the sensor's timeout, not the run's end
    out = capfd.readouterr()
    text = out.out + out.err
    assert "status word 'ACTION_PHASE_11' (1 run) is not in the provider's table" in text
    assert f"Run {ref.run_id} is unknown (ACTION_PHASE_11)" in text


# -- error answers in someone else's words ---------------------------------------------------------------


def answering(status: int, content_type: bytes, body: bytes) -> tuple[ServerThread, list[str]]:
    """A server (not started) that answers every request with ``status``, ``content_type`` and ``body`` (a
    proxy's page, a service that is not the platform), and the paths it was asked for."""
    asked: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        asked.append(scope["path"])
        headers = [(b"content-type", content_type)]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return ServerThread(app), asked


NOT_FOUND_PAGE = b"<html><body><h1>404 Not Found</h1>nginx</body></html>"


@pytest.mark.usefixtures("airflow_db")
@pytest.mark.parametrize(
    ("dag_id", "conn", "base", "endpoint", "hint"),
    [
        (
            "t_retries_wrong_endpoint",
            ("flyte_default", "remote_tasks_flyte", ""),
            "",
            "/flyteidl2.task.TaskService/ListTasks answered HTTP 404 with text/html, which is not a Flyte API answer",
            "Check that the connection's endpoint is the Flyte control plane",
        ),
        (
            "j_retries_wrong_endpoint",
            ("julep_default", "remote_tasks_julep", "k"),
            "/api",
            "/api/tasks/",
            "which is not a Julep API answer. Check the connection's base URL",
        ),
    ],
)
def test_an_html_404_from_a_wrong_endpoint_fails_once_naming_it(dag_id, conn, base, endpoint, hint, capfd):
    server, asked = answering(404, b"text/html", NOT_FOUND_PAGE)
    conn_id, conn_type, key = conn
    with server:
        set_connection(conn_id, conn_type, server.url + base, key, {"agent_id": DEMO_AGENT_ID})
        result = run_dag(dag_id)
    assert result.task_state("remote") == "failed"
    assert result.try_number("remote") == 1  # retries=1, and no second try
    assert len(asked) == 1  # nor a second request
    out = capfd.readouterr()
    text = out.out + out.err
    assert f"{server.url}{endpoint}" in text and hint in text
    assert "404 Not Found" in text


@pytest.mark.parametrize(
    ("status", "permanent"),
    [
        (404, True),
        (403, True),
        (405, True),
        (429, False),
        (500, False),
        (502, False),
        (503, False),
        (504, False),
    ],
)
def test_only_a_gateway_status_in_someone_elses_words_is_worth_asking_again(status, permanent):
    from pydantic import SecretStr

    from airflow_remote_tasks.core.errors import TransportError, is_permanent, is_transient
    from airflow_remote_tasks.platforms.julep import rest
    from airflow_remote_tasks.platforms.julep.config import JulepConfig

    page = HttpResponse(status, {"content-type": "text/html"}, b"<html>proxy says no</html>", url="")
    config = JulepConfig(base_url="https://julep.test/api", api_key=SecretStr("k"))
    errors = [
        connect.error_from_response("x.Y/Z", page, "https://flyte.test/x.Y/Z"),
        rest.error_from_response(config, "GET", "tasks/t", page),
    ]
    for error in errors:
        assert is_permanent(error) is permanent and is_transient(error) is not permanent
        assert isinstance(error, UnexpectedAnswerError if permanent else TransportError)
        assert "proxy says no" in str(error)
    assert "https://flyte.test/x.Y/Z answered HTTP" in str(errors[0])
    assert "GET https://julep.test/api/tasks/t answered HTTP" in str(errors[1])


# -- the connection test knows the platform's answers -----------------------------------------------------


@pytest.mark.parametrize("body", [b"[1, 2, 3]", b"{}", b'{"status": "ok"}'])
@pytest.mark.parametrize(
    ("hook", "conn", "base", "extra", "endpoint", "words"),
    [
        (
            FlyteHook,
            ("flyte_default", "remote_tasks_flyte", ""),
            "",
            {},
            "/flyteidl2.",
            "not a Flyte API answer",
        ),
        (
            JulepHook,
            ("julep_default", "remote_tasks_julep", "k"),
            "/api",
            {"agent_id": DEMO_AGENT_ID},
            f"/api/agents/{DEMO_AGENT_ID}",
            "not a Julep API answer",
        ),
        (
            JulepHook,
            ("julep_default", "remote_tasks_julep", "k"),
            "/api",
            {},
            "/api/agents",
            "not a Julep API answer",
        ),
    ],
)
def test_the_connection_test_fails_for_json_that_is_not_the_platforms(
    hook, conn, base, extra, endpoint, words, body
):
    server, asked = answering(200, b"application/json", body)
    conn_id, conn_type, key = conn
    with server:
        set_connection(conn_id, conn_type, server.url + base, key, extra)
        ok, message = hook(conn_id).test_connection()
    assert not ok, message
    assert f"{server.url}{endpoint}" in message and words in message
    assert "Check" in message and "the connection's" in message
    assert len(asked) <= 2


def test_an_empty_flyte_project_still_connects(flyte):
    flyte.emulator.state.tasks = []  # ListTasks answers "{}", as for any project with no tasks
    ok, message = FlyteHook("flyte_default").test_connection()
    assert ok, message
    assert message == (
        f"Connected to Flyte at {flyte.url}: project flytesnacks/development answers, no tasks are deployed yet."
    )


def test_julep_without_an_agent_still_connects(julep):
    julep.connect(agent_id="")
    ok, message = JulepHook("julep_default").test_connection()
    assert ok, message
    assert message == f"Connected to Julep at {julep.url}: the API key works and agents are visible."
