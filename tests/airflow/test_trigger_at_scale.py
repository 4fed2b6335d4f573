"""Triggers by the hundred: starting cold they fetch one token, and a refused batch read falls back to single
reads."""

from __future__ import annotations

import base64

import pytest

pytestmark = [pytest.mark.airflow, pytest.mark.usefixtures("airflow_db")]


def api_key(endpoint: str, client_id: str, secret: str, org: str = "None") -> str:
    return base64.b64encode(f"{endpoint}:{client_id}:{secret}:{org}".encode()).decode()


def test_hundreds_of_triggers_starting_cold_fetch_one_token(flyte_with_auth):
    from test_remote_run_trigger import wait_together

    from airflow_remote_tasks.platforms.flyte import auth
    from airflow_remote_tasks.platforms.flyte.hook import FlyteHook
    from support import start_run

    flyte = flyte_with_auth
    flyte.connect(host="", password=api_key(flyte.url, "airflow", "s3cr3t-VALUE-42"))
    refs = [start_run("demo.say_hello", {"name": str(i)}, f"cold-{i}")[1] for i in range(200)]
    # A triggerer that just started: no token, no discovery yet, on the connection's one platform object.
    FlyteHook("flyte_default").platform.auth.fetched_token.drop()
    FlyteHook("flyte_default").platform.auth.discovered = None
    before = dict(flyte.emulator.app.calls)

    results = wait_together(refs, poll_interval=0.5)
    assert all(events[0]["status"]["phase"] == "succeeded" for events in results)
    calls = {k: v - before.get(k, 0) for k, v in flyte.emulator.app.calls.items()}
    assert calls["/oauth2/token"] == 1, calls
    assert calls[f"/{auth.GET_OAUTH2_METADATA}"] == 1, calls
    assert calls[f"/{auth.GET_PUBLIC_CLIENT_CONFIG}"] == 1, calls


def test_a_refused_batch_read_falls_back_to_single_reads(flyte):
    from test_remote_run_trigger import wait_together

    from support import start_run

    refs = [start_run("demo.say_hello", {"name": str(i)}, f"unbatched-{i}")[1] for i in range(8)]
    flyte.emulator.app.faults.update(
        {"fail_method": "ListRuns", "fail_method_next": 1000, "error_status": 400}
    )
    before = dict(flyte.emulator.app.calls)
    results = wait_together(refs, poll_interval=0.3)
    assert all(events == [events[0]] and events[0]["status"]["phase"] == "succeeded" for events in results)
    calls = {k: v - before.get(k, 0) for k, v in flyte.emulator.app.calls.items()}
    assert calls["/flyteidl2.workflow.RunService/ListRuns"] == 1, calls  # refused once, then not asked again
    assert calls["/flyteidl2.workflow.RunService/GetRunDetails"] >= len(refs), calls


def test_waits_that_started_apart_share_one_status_call_per_poll(flyte):
    """Forty waits deferred apart over one poll interval, as tasks reach the triggerer: after their first
    pauses they poll at one beat (core/batching.Pace), so the runs' status costs one ListRuns a poll, not one
    per gathering window of the interval."""
    import asyncio

    from airflow_remote_tasks.core.transport import close_shared_clients
    from airflow_remote_tasks.triggers.remote_run import RemoteRunTrigger
    from support import start_run

    interval, count, seconds = 0.5, 40, 6.0
    flyte.emulator.watches.faults.refuse = True  # no stream of run updates: the waits poll
    refs = [start_run("demo.sleep", {"seconds": seconds}, f"apart-{i}")[1] for i in range(count)]
    list_runs = "/flyteidl2.workflow.RunService/ListRuns"

    async def wait(i: int) -> list[dict]:
        await asyncio.sleep(i * interval / count)
        trigger = RemoteRunTrigger(conn_id="flyte_default", ref=refs[i].to_json(), poll_interval=interval)
        return [event.payload async for event in trigger.run()]

    async def steady_calls() -> int:
        """ListRuns over eight polls, from the third interval on (the first reads come apart)."""
        await asyncio.sleep(3 * interval)
        before = flyte.emulator.app.calls[list_runs]
        await asyncio.sleep(8 * interval)
        return flyte.emulator.app.calls[list_runs] - before

    async def scenario() -> tuple[list[list[dict]], int]:
        counting = asyncio.ensure_future(steady_calls())
        results = await asyncio.gather(*(wait(i) for i in range(count)))
        await close_shared_clients()
        return results, await counting

    results, calls = asyncio.run(scenario())
    assert all(events[0]["status"]["phase"] == "succeeded" for events in results)
    assert calls <= 8 + 1, f"{calls} ListRuns over 8 polls of {count} waits"
