"""The trigger in an event loop, as the triggerer runs it: one plain-JSON event, transient errors within its
budget, on_kill only for a task a person ended, and many waits sharing status reads and connection reads."""

from __future__ import annotations

import asyncio
import json

import pytest

from airflow_remote_tasks.core.transport import close_shared_clients
from airflow_remote_tasks.triggers.remote_run import RemoteRunTrigger
from support import start_run

pytestmark = pytest.mark.usefixtures("airflow_db")


def wait_together(refs, poll_interval: float) -> list[list[dict]]:
    """Every run's trigger in one event loop, as a triggerer runs them; each trigger's events."""

    async def scenario():
        triggers = [
            RemoteRunTrigger(conn_id="flyte_default", ref=r.to_json(), poll_interval=poll_interval)
            for r in refs
        ]
        results = await asyncio.gather(*[collect(t) for t in triggers])
        await close_shared_clients()
        return results

    async def collect(trigger):
        return [event.payload async for event in trigger.run()]

    return asyncio.run(scenario())


async def events_of(trigger: RemoteRunTrigger) -> list[dict]:
    events = [event.payload async for event in trigger.run()]
    await close_shared_clients()
    return events


def test_trigger_yields_exactly_one_event_and_is_plain_json(flyte):
    _, ref = start_run("demo.say_hello", {"name": "t"}, "one-event")
    trigger = RemoteRunTrigger(conn_id="flyte_default", ref=ref.to_json(), poll_interval=0.1)
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_remote_tasks.triggers.remote_run.RemoteRunTrigger"
    assert json.loads(json.dumps(kwargs)) == kwargs
    rebuilt = RemoteRunTrigger(**kwargs)
    [event] = asyncio.run(events_of(rebuilt))
    assert event["outcome"] == "reached" and event["status"]["phase"] == "succeeded"


def test_transient_errors_inside_the_budget_do_not_fail_the_wait(flyte):
    _, ref = start_run("demo.say_hello", {"name": "t"}, "transient")
    flyte.emulator.watches.faults.refuse = True  # the polls' errors are tested: no stream of run updates
    # more failures than one call's retries: the wait itself must ride them out
    flyte.emulator.app.faults.update({"fail_method": "GetRunDetails", "fail_method_next": 7})
    trigger = RemoteRunTrigger(
        conn_id="flyte_default", ref=ref.to_json(), poll_interval=0.1, transient_error_budget=60
    )
    [event] = asyncio.run(events_of(trigger))
    assert event["status"]["phase"] == "succeeded"
    assert flyte.emulator.app.calls["/flyteidl2.workflow.RunService/GetRunDetails"] >= 8


def kill_trigger_while_waiting(ref) -> None:
    """What the triggerer does on a cancel: stop the trigger's wait, then call on_kill."""
    from support import TI

    trigger = RemoteRunTrigger(conn_id="flyte_default", ref=ref.to_json(), poll_interval=0.1)
    trigger.task_instance = TI

    async def scenario():
        task = asyncio.ensure_future(events_of(trigger))
        await asyncio.sleep(0.5)
        task.cancel()
        await trigger.on_kill()
        await trigger.cleanup()
        await close_shared_clients()

    asyncio.run(scenario())


@pytest.mark.parametrize("state", ["failed", "success", None])
def test_trigger_on_kill_aborts_the_run_of_a_task_a_person_ended(flyte, supervisor, state):
    supervisor.state = state  # marked failed, marked success, cleared
    _, ref = start_run("demo.sleep", {"seconds": 30}, "kill-me")
    kill_trigger_while_waiting(ref)
    [run] = flyte.runs
    assert run["phase"] == "ACTION_PHASE_ABORTED"
    [question] = supervisor.asked
    assert (question.dag_id, question.run_ids, question.task_ids) == ("d", ["manual__1"], ["t"])


def test_trigger_on_kill_leaves_the_run_of_a_still_deferred_task_alone(flyte, supervisor):
    """A triggerer that missed its heartbeats gets on_kill for the triggers another one took over
    (apache/airflow#73454): the task instance is still deferred, so the run goes on."""
    supervisor.state = "deferred"
    _, ref = start_run("demo.sleep", {"seconds": 30}, "moved")
    kill_trigger_while_waiting(ref)
    assert flyte.runs[0]["phase"] == "ACTION_PHASE_RUNNING"
    assert flyte.emulator.app.calls["/flyteidl2.workflow.RunService/AbortRun"] == 0


def test_trigger_on_kill_leaves_the_run_alone_when_the_state_cannot_be_read(flyte, supervisor, capsys):
    supervisor.fails = True
    _, ref = start_run("demo.sleep", {"seconds": 30}, "unknown")
    kill_trigger_while_waiting(ref)
    assert flyte.runs[0]["phase"] == "ACTION_PHASE_RUNNING"
    log = capsys.readouterr().out  # the trigger's log names the run, so a person can stop it
    assert "could not be read (ConnectionResetError: supervisor gone): leaving run " + ref.run_id in log


def test_on_kill_of_many_mapped_triggers_asks_the_supervisor_once(flyte, supervisor):
    """A DAG run of mapped deferred tasks marked failed at once: one question answers all their on_kills."""
    from types import SimpleNamespace

    from support import TI

    count = 40
    refs = [start_run("demo.sleep", {"seconds": 30}, f"mapped-{n}")[1] for n in range(count)]
    supervisor.answer = {f"{TI.task_id}_{n}": "failed" for n in range(count)}

    async def scenario() -> None:
        triggers = []
        for n, ref in enumerate(refs):
            trigger = RemoteRunTrigger(conn_id="flyte_default", ref=ref.to_json(), poll_interval=0.1)
            trigger.task_instance = SimpleNamespace(**{**vars(TI), "map_index": n})
            triggers.append(trigger)
        await asyncio.gather(*(trigger.on_kill() for trigger in triggers))
        await close_shared_clients()

    asyncio.run(scenario())
    assert len(supervisor.asked) == 1
    assert {run["phase"] for run in flyte.runs} == {"ACTION_PHASE_ABORTED"}


def test_trigger_cleanup_has_no_remote_side_effect(flyte):
    _, ref = start_run("demo.sleep", {"seconds": 30}, "keep-me")
    trigger = RemoteRunTrigger(conn_id="flyte_default", ref=ref.to_json(), poll_interval=0.1)
    asyncio.run(trigger.cleanup())
    assert flyte.runs[0]["phase"] != "ACTION_PHASE_ABORTED"


def test_status_reads_of_many_waits_share_calls(flyte):
    refs = [start_run("demo.say_hello", {"name": str(i)}, f"batched-{i}")[1] for i in range(30)]
    failing = start_run("demo.fail", {"message": "boom in a batch"}, "batched-fail")[1]
    missing = refs[0].model_copy(update={"run_id": "no-such-run"})
    flyte.emulator.watches.faults.refuse = True  # polls are tested (streamed: test_flyte_streamed_waits.py)
    before = dict(flyte.emulator.app.calls)

    *succeeded, failed, lost = wait_together([*refs, failing, missing], poll_interval=0.2)
    assert all(events == [events[0]] and events[0]["status"]["phase"] == "succeeded" for events in succeeded)
    # the batch left the failure out; its own read fetched the message from the action details
    assert failed[0]["status"]["phase"] == "failed" and "boom in a batch" in failed[0]["status"]["message"]
    assert lost[0]["outcome"] == "error" and "no-such-run" in lost[0]["message"]

    calls = {k: v - before.get(k, 0) for k, v in flyte.emulator.app.calls.items()}
    listed = calls.get("/flyteidl2.workflow.RunService/ListRuns", 0)
    singles = calls.get("/flyteidl2.workflow.RunService/GetRunDetails", 0)
    # 32 waits of several polls each: a handful of ListRuns rounds (one when the runs, of half a second, all
    # ended before the first read), single reads only for the two odd runs
    assert 1 <= listed <= 12, calls
    assert singles <= 4, calls


def test_triggers_starting_together_read_their_connection_once(flyte, monkeypatch):
    from airflow.sdk import BaseHook

    refs = [start_run("demo.say_hello", {"name": str(i)}, f"one-read-{i}")[1] for i in range(20)]
    reads = []
    real = BaseHook.aget_connection

    async def counted(conn_id):
        reads.append(conn_id)
        await asyncio.sleep(0.05)  # a real triggerer asks its supervisor: every trigger would be waiting here
        return await real(conn_id)

    monkeypatch.setattr(BaseHook, "aget_connection", staticmethod(counted))

    results = wait_together(refs, poll_interval=0.1)
    assert all(events[0]["status"]["phase"] == "succeeded" for events in results)
    assert reads == ["flyte_default"]
