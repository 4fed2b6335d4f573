"""Flyte waits in the triggerer on the emulator's WatchRuns stream: one stream for a project's waits, each wait
resumed by the stream with no status polls (how soon is measured by benchmarks/waits.py); polls while the
stream is refused or down; the runs that ended meanwhile read once when it is back; deadlines kept; the
worker's waits untouched."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from airflow_remote_tasks.core.transport import close_shared_clients
from airflow_remote_tasks.platforms.flyte import watch
from airflow_remote_tasks.triggers.remote_run import RemoteRunTrigger
from support import start_run

pytestmark = pytest.mark.usefixtures("airflow_db")

RUNS = "/flyteidl2.workflow.RunService"
POLLS = (f"{RUNS}/GetRunDetails", f"{RUNS}/ListRuns")


def polls(flyte: Any) -> int:
    return sum(flyte.emulator.app.calls.get(path, 0) for path in POLLS)


def sleeping_runs(flyte: Any, count: int, seconds: Callable[[int], float], key: str) -> list[Any]:
    """``count`` runs of demo.sleep made in the emulator at once (their CreateRun is tested elsewhere), and
    their references as the operator would hand them to its trigger."""
    from airflow_remote_tasks.platforms.flyte.hook import FlyteHook

    platform = FlyteHook("flyte_default").platform
    state = flyte.emulator.state
    task = state.find_task("demo.sleep", "v1")
    refs = []
    for i in range(count):
        value = {"scalar": {"primitive": {"floatValue": seconds(i)}}}
        name = f"{key}-{i}"
        state.create_run(
            org="",
            project="flytesnacks",
            domain="development",
            name=name,
            task=task,
            input_literals=[{"name": "seconds", "value": value}],
            labels={},
        )
        refs.append(platform.ref_for(name))
    return refs


def emulated(flyte: Any, ref: Any) -> Any:
    return flyte.emulator.state.run(ref.scope["project"], ref.scope["domain"], ref.run_id)


def end_now(flyte: Any, ref: Any) -> None:
    """The run succeeds now (its clock moved), as if its pod finished."""
    run = emulated(flyte, ref)
    run.run_seconds = time.time() - run.created - run.queue_seconds


async def until(check: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "not in time"
        await asyncio.sleep(0.02)


class Waits:
    """Triggers waiting together on one loop, as in a triggerer: each one's event."""

    def __init__(self, refs: list[Any], **trigger: Any) -> None:
        self.refs = refs
        self.events: dict[str, dict[str, Any]] = {}
        self.tasks = [asyncio.ensure_future(self._wait(ref, trigger)) for ref in refs]

    async def _wait(self, ref: Any, trigger: dict[str, Any]) -> None:
        waiting = RemoteRunTrigger(conn_id="flyte_default", ref=ref.to_json(), **trigger)
        async for event in waiting.run():
            self.events[ref.run_id] = event.payload

    def done(self, ref: Any) -> bool:
        return ref.run_id in self.events

    async def all(self) -> None:
        await asyncio.wait_for(asyncio.gather(*self.tasks), 60)


def scenario(body: Callable[[], Awaitable[None]]) -> None:
    async def run() -> None:
        try:
            await body()
        finally:
            await close_shared_clients()

    asyncio.run(run())


def test_200_waits_on_one_project_are_resumed_by_one_stream_without_polls(flyte):
    refs = sleeping_runs(flyte, 200, lambda i: 600.0, "many")
    before = dict(flyte.emulator.app.calls)

    async def body() -> None:
        # Polling alone would resume them an hour late, past the 60 s the waits are given.
        waits = Waits(refs, poll_interval=3600.0)
        await until(lambda: flyte.emulator.app.calls[f"{RUNS}/ListRuns"] > before.get(f"{RUNS}/ListRuns", 0))
        await asyncio.sleep(1.0)  # every wait has read its run (running) and pauses
        for batch in range(4):  # the runs end in four waves, half a second apart
            for ref in refs[batch::4]:
                end_now(flyte, ref)
            await asyncio.sleep(0.5)
        await waits.all()
        assert {e["status"]["phase"] for e in waits.events.values()} == {"succeeded"}

    scenario(body)
    calls = {k: v - before.get(k, 0) for k, v in flyte.emulator.app.calls.items()}
    assert calls.get(f"{RUNS}/WatchRuns") == 1, calls  # one stream for the project's 200 waits
    assert calls.get(f"{RUNS}/GetRunDetails", 0) == 0, calls
    # The read when the stream opened (the runs started before it): one ListRuns of 200 names. Then none.
    assert calls.get(f"{RUNS}/ListRuns", 0) == 1, calls


def test_a_refused_stream_leaves_the_waits_polling_as_without_it(flyte):
    flyte.emulator.watches.faults.refuse = True
    refs = sleeping_runs(flyte, 3, lambda i: 0.5, "refused")

    async def body() -> None:
        waits = Waits(refs, poll_interval=0.2)
        await waits.all()
        assert {e["status"]["phase"] for e in waits.events.values()} == {"succeeded"}

    scenario(body)
    assert flyte.emulator.app.calls[f"{RUNS}/WatchRuns"] == 1  # not asked again for REFUSED_RETRY_SECONDS
    assert flyte.emulator.app.calls[f"{RUNS}/ListRuns"] >= 2  # the runs read running, then ended


def test_a_dropped_stream_falls_back_to_polls_and_stops_polling_once_it_is_back(flyte):
    refs = sleeping_runs(flyte, 3, lambda i: 600.0, "dropped")
    app = flyte.emulator.app

    async def body() -> None:
        waits = Waits(refs, poll_interval=0.2)
        await until(lambda: flyte.emulator.watches.open_streams == 1)
        await asyncio.sleep(0.5)
        quiet = polls(flyte)
        await asyncio.sleep(0.6)
        assert polls(flyte) == quiet  # healthy: the waits read the stream's statuses

        app.faults.update({"fail_method": "WatchRuns", "fail_method_next": 1000})  # asked again: 503
        flyte.emulator.watches.drop_all()
        await until(lambda: polls(flyte) >= quiet + 6)  # down: the waits poll
        end_now(flyte, refs[0])
        await until(lambda: waits.done(refs[0]))  # and see their runs end by polling

        app.faults.update({"fail_method_next": 0})
        await until(lambda: flyte.emulator.watches.open_streams == 1)
        await asyncio.sleep(0.5)  # the read on reconnect, then nothing more
        back = polls(flyte)
        await asyncio.sleep(0.6)
        assert polls(flyte) == back
        for ref in refs[1:]:
            end_now(flyte, ref)
        await waits.all()
        assert {e["status"]["phase"] for e in waits.events.values()} == {"succeeded"}

    scenario(body)


def test_a_run_that_ended_while_the_stream_was_down_is_read_when_it_is_back(flyte):
    refs = sleeping_runs(flyte, 3, lambda i: 600.0, "missed")
    app = flyte.emulator.app

    async def body() -> None:
        waits = Waits(refs, poll_interval=60.0)  # paused: the waits do not poll meanwhile
        await until(lambda: app.calls[f"{RUNS}/ListRuns"] == 1)
        await asyncio.sleep(1.5)  # every wait read its run (batched for a second) and pauses
        app.faults.update({"fail_method": "WatchRuns", "fail_method_next": 2})  # two more tries fail
        flyte.emulator.watches.drop_all()
        await until(lambda: flyte.emulator.watches.open_streams == 0)
        end_now(flyte, refs[1])  # no stream is open to tell of it
        # Seen by the read on reconnect (after the tries 0.5, 1 and 2 s apart: FIRST_RETRY_SECONDS, doubled),
        # as the waits pause a minute between polls.
        await until(lambda: waits.done(refs[1]), 30.0)
        assert not waits.done(refs[0]) and not waits.done(refs[2])
        end_now(flyte, refs[0])
        end_now(flyte, refs[2])
        await waits.all()

    scenario(body)
    assert app.calls[f"{RUNS}/WatchRuns"] == 4
    assert app.calls.get(f"{RUNS}/GetRunDetails", 0) == 0
    assert app.calls[f"{RUNS}/ListRuns"] == 2  # when the stream opened, and when it was back


@pytest.mark.parametrize(
    "headers_first", [False, True], ids=["headers-with-first-message", "headers-at-once"]
)
def test_a_stream_that_is_silent_until_a_run_changes_still_serves(flyte, headers_first):
    # A server that sends nothing before a run changes: not even its headers (connect-go, connect-python),
    # or its headers at once. Either way the stream is taken as open a second after it was asked for.
    flyte.emulator.watches.faults.first_state = False
    flyte.emulator.watches.faults.headers_first = headers_first
    refs = sleeping_runs(flyte, 2, lambda i: 600.0, "silent")

    async def body() -> None:
        waits = Waits(refs, poll_interval=3600.0)
        await until(lambda: flyte.emulator.app.calls[f"{RUNS}/ListRuns"] == 1)  # read once it was asked
        await asyncio.sleep(1.5)
        for ref in refs:
            end_now(flyte, ref)
        await waits.all()

    scenario(body)
    assert flyte.emulator.app.calls.get(f"{RUNS}/GetRunDetails", 0) == 0
    # The read when it was taken as open, and none when the first message came.
    assert flyte.emulator.app.calls[f"{RUNS}/ListRuns"] == 1


def test_a_failed_run_s_message_is_read_once_since_the_stream_carries_none(flyte):
    _, ref = start_run("demo.fail", {"message": "the model diverged"}, "failing")

    async def body() -> None:
        waits = Waits([ref], poll_interval=60.0)
        await waits.all()
        status = waits.events[ref.run_id]["status"]
        assert status["phase"] == "failed" and "the model diverged" in status["message"]

    scenario(body)
    assert flyte.emulator.app.calls[f"{RUNS}/GetRunDetails"] >= 1


def test_a_streamed_wait_still_ends_at_its_deadline(flyte):
    [ref] = sleeping_runs(flyte, 1, lambda i: 600.0, "deadline")

    async def body() -> None:
        waits = Waits([ref], poll_interval=3600.0, deadline=time.time() + 1.5)
        await waits.all()  # within 60 s: the pause ends at the deadline, not an hour later
        assert waits.events[ref.run_id]["outcome"] == "timeout"

    scenario(body)


def test_a_stream_with_no_waits_left_closes(flyte, monkeypatch):
    monkeypatch.setattr(watch, "SWEEP_SECONDS", 0.1)
    monkeypatch.setattr(watch, "ENDED_KEPT_SECONDS", 0.1)
    refs = sleeping_runs(flyte, 2, lambda i: 0.5, "closing")

    async def body() -> None:
        await Waits(refs, poll_interval=60.0).all()
        await until(lambda: flyte.emulator.watches.open_streams == 0, 5.0)
        assert not watch._STREAMS._entries  # the closed stream is no longer kept (NAMED_STATE's rule)
        # a later wait opens a stream of its own
        [later] = sleeping_runs(flyte, 1, lambda i: 0.5, "later")
        await Waits([later], poll_interval=60.0).all()

    scenario(body)
    assert flyte.emulator.app.calls[f"{RUNS}/WatchRuns"] == 2


def test_the_workers_wait_polls_and_opens_no_stream(flyte):
    from airflow_remote_tasks.core.executors import drive
    from airflow_remote_tasks.core.run_wait import wait_for_run
    from airflow_remote_tasks.core.steps import step_runner

    hook, ref = start_run("demo.say_hello", {"name": "w"}, "worker")
    outcome = drive(wait_for_run(hook.platform, ref, poll_interval=0.1), step_runner(hook.run))
    assert outcome.status is not None and outcome.status.phase.value == "succeeded"
    assert flyte.emulator.app.calls.get(f"{RUNS}/WatchRuns", 0) == 0
