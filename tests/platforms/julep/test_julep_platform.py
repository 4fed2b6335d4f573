"""Julep through the hook and the trigger, as the worker and the triggerer use them."""

from __future__ import annotations

import asyncio
import time

import pytest

from airflow_helpers import run_dag
from airflow_remote_tasks.core.models import RunOrigin
from airflow_remote_tasks.core.transport import close_shared_clients
from airflow_remote_tasks.platforms.julep.hook import JulepHook
from airflow_remote_tasks.triggers.remote_run import RemoteRunTrigger

pytestmark = pytest.mark.usefixtures("airflow_db")

SLOW = {"name": "slow", "main": [{"sleep": {"seconds": 0, "minutes": 0, "hours": 1, "days": 0}}]}
ASK = {"name": "ask", "main": [{"wait_for_input": {"info": {"q": "go?"}}}, {"return": {"a": "$ _.a"}}]}


def start(definition: dict, key: str):
    hook = JulepHook("julep_default")
    platform = hook.platform
    interface = hook.run(platform.resolve_task(definition, "latest"))
    origin = RunOrigin(dag_id="d", run_id="r", task_id=key)
    ref = hook.run(platform.submit(interface, {}, origin=origin, labels={}, env={}))
    return hook, ref


def wait_for_status(julep, status: str, seconds: float = 5.0) -> None:
    for _ in range(int(seconds / 0.05)):
        if julep.executions and julep.executions[0]["status"] == status:
            return
        time.sleep(0.05)
    raise AssertionError(f"execution never became {status}: {julep.executions}")


def test_trigger_on_kill_cancels_the_execution(julep, supervisor):
    from support import TI

    _, ref = start(SLOW, "kill-me")
    trigger = RemoteRunTrigger(conn_id="julep_default", ref=ref.to_json(), poll_interval=0.1)
    trigger.task_instance = TI  # marked failed, as the supervisor reports it

    async def scenario() -> None:
        waiting = asyncio.ensure_future(trigger.run().__anext__())
        await asyncio.sleep(0.3)
        waiting.cancel()
        await trigger.on_kill()
        await trigger.cleanup()
        await close_shared_clients()

    asyncio.run(scenario())
    wait_for_status(julep, "cancelled")


def test_trigger_cleanup_leaves_the_execution_alone(julep):
    _, ref = start(SLOW, "keep-me")
    asyncio.run(RemoteRunTrigger(conn_id="julep_default", ref=ref.to_json()).cleanup())
    time.sleep(0.3)
    assert julep.executions[0]["status"] in ("starting", "running")  # still going


def test_test_connection_makes_a_real_call_and_says_what_to_fix(julep):
    assert JulepHook("julep_default").test_connection() == (
        True,
        f"Connected to Julep at {julep.url}: agent 'Airflow demo agent' "
        "(5e1f0000-0000-4000-8000-000000000001) answers.",
    )
    julep.connect(password="wrong-key")
    ok, message = JulepHook("julep_default").test_connection()
    assert not ok and "The API key was refused" in message and "wrong-key" not in message
    julep.connect(host=julep.server.url + "/v1")
    ok, message = JulepHook("julep_default").test_connection()
    assert not ok and "Check the connection's base URL" in message


def test_sensor_on_paused_policies(julep):
    _, ref = start(ASK, "ask")
    wait_for_status(julep, "awaiting_input")
    result = run_dag("j_sensor_paused", conf={"run": ref.run_id})
    assert result.task_state("sensor_succeed") == "success"
    assert result.task_state("sensor_fail") == "failed"
    assert julep.executions[0]["status"] == "awaiting_input"  # a sensor never resumes or cancels


def test_status_stream_sends_events_until_the_end(julep):
    import json

    import httpx

    from support import JULEP_KEY

    _, ref = start({"name": "quick", "main": [{"evaluate": {"x": "$ 1"}}, {"return": {"x": "$ _.x"}}]}, "sse")
    statuses = []
    with httpx.stream(
        "GET",
        f"{julep.url}/executions/{ref.run_id}/status.stream",
        headers={"Authorization": f"Bearer {JULEP_KEY}", "Accept": "text/event-stream"},
        timeout=10,
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("data: "):
                event = json.loads(line[len("data: ") :])
                assert set(event) == {
                    "execution_id", "status", "updated_at", "error", "transition_count", "metadata"
                }  # fmt: skip
                statuses.append(event["status"])
    assert statuses[-1] == "succeeded"  # and the stream closed after it
    # The first event is the state when the stream opened: on a busy machine the run may be going already.
    order = ["queued", "starting", "running", "succeeded"]
    assert statuses[0] in order[:3]
    assert [order.index(status) for status in statuses] == sorted(order.index(status) for status in statuses)


def test_paused_run_is_waited_on_until_someone_resumes_it(julep):
    import threading

    import httpx

    from support import JULEP_KEY

    def resume_when_asked() -> None:
        wait_for_status(julep, "awaiting_input", seconds=120)  # after Airflow has parsed and started
        execution = julep.executions[0]["id"]
        httpx.put(
            f"{julep.url}/executions/{execution}",
            json={"status": "running", "input": {"approved": True, "reviewer": "a person"}},
            headers={"Authorization": f"Bearer {JULEP_KEY}"},
        ).raise_for_status()

    person = threading.Thread(target=resume_when_asked)
    person.start()
    result = run_dag("j_paused_wait")  # on_paused="wait", the default
    person.join()
    assert result.xcom("collect") == {"approved": True, "by": "a person", "summary": "keep waiting"}


def test_worker_on_kill_cancels_the_execution(julep):
    from airflow_remote_tasks import RemoteTaskOperator

    _, ref = start(SLOW, "killed-worker")
    operator = RemoteTaskOperator(task_id="remote", conn_id="julep_default", task=SLOW)
    operator._ref = ref  # what execute() holds while it waits in the worker
    operator.on_kill()
    wait_for_status(julep, "cancelled")
