"""The executors against a real server: Retry-After honoured, a call that starts a run not retried blindly, the
sync executor driving the same operation, and one pooled client per event loop for every wait on it."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from airflow_remote_tasks.core.executors import execute
from airflow_remote_tasks.core.transport import close_shared_clients, shared_async_client
from airflow_remote_tasks.platforms.flyte.hook import FlyteHook
from airflow_remote_tasks.triggers.remote_run import RemoteRunTrigger
from support import start_run

pytestmark = pytest.mark.usefixtures("airflow_db")


def test_429_honours_retry_after(flyte):
    hook = FlyteHook("flyte_default")
    flyte.emulator.app.faults.update({"rate_limit_next": 2, "retry_after": 0.6})
    started = time.monotonic()
    message = hook.run(hook.platform.check_connection())
    assert "Connected to Flyte" in message
    assert time.monotonic() - started >= 1.2  # two waits of Retry-After


def test_a_run_starting_call_is_not_retried_blindly(flyte):
    from airflow_remote_tasks.core.operation import HttpRequest

    hook = FlyteHook("flyte_default")
    flyte.emulator.app.faults.update({"fail_method": "CreateRun", "fail_method_next": 1})

    def create_without_key():
        response = yield HttpRequest(
            "POST",
            f"{flyte.url}/flyteidl2.workflow.RunService/CreateRun",
            headers={"Content-Type": "application/json"},
            content=b"{}",
            idempotent=False,
        )
        return response.status

    assert hook.run(create_without_key()) == 503
    assert flyte.emulator.app.calls["/flyteidl2.workflow.RunService/CreateRun"] == 1


def test_sync_executor_drives_the_same_operation(flyte):
    hook = FlyteHook("flyte_default")
    with httpx.Client() as client:
        interface = execute(hook.platform.resolve_task("demo.stats", "v1"), client)
    assert [spec.name for spec in interface.inputs] == ["values"]
    assert interface.outputs == ["mean", "maximum", "count"]


def test_triggers_share_one_client_per_loop(flyte):
    refs = [start_run("demo.say_hello", {"name": str(i)}, f"shared-{i}")[1] for i in range(20)]

    async def scenario():
        triggers = [
            RemoteRunTrigger(conn_id="flyte_default", ref=r.to_json(), poll_interval=0.1) for r in refs
        ]
        results = await asyncio.gather(*[events_of_open(t) for t in triggers])
        hook = FlyteHook("flyte_default")
        settings = (await hook.aplatform()).client_settings
        client = shared_async_client(settings)
        assert shared_async_client(settings) is client
        await close_shared_clients()
        return results

    async def events_of_open(trigger):
        return [event.payload async for event in trigger.run()]

    results = asyncio.run(scenario())
    assert all(events[0]["status"]["phase"] == "succeeded" for events in results)
