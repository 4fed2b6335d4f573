"""Asset watchers of remote runs (RemoteEventTrigger) against the emulators, run as the triggerer runs them:
subscribed to Airflow's own SharedStreamManager by their shared_stream_key, their watermarks in an
asset_state_store answered as the triggerer's supervisor answers it. The scheduler's side (a DAG run per
event, a SIGKILLed triggerer) is in tests/cluster/test_event_scheduling.py."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from airflow.sdk import Asset, AssetWatcher
from airflow.sdk.exceptions import ErrorType
from airflow.sdk.execution_time.comms import (
    AssetStateStoreResult,
    ErrorResponse,
    GetAssetStateStoreByName,
    OKResponse,
    SetAssetStateStoreByName,
)
from airflow.sdk.execution_time.context import AssetStateStoreAccessors
from airflow.triggers.shared_stream import DEFAULT_ACK_TIMEOUT, AckTimeout, SharedStreamManager

from airflow_remote_tasks.core.errors import ConfigurationError
from airflow_remote_tasks.core.transport import close_shared_clients
from airflow_remote_tasks.emulators.julep import DEMO_AGENT_ID
from airflow_remote_tasks.triggers.events import RemoteEventTrigger
from support import JULEP_KEY, start_run

pytestmark = [pytest.mark.airflow]
LIST_RUNS = "/flyteidl2.workflow.RunService/ListRuns"


class AssetStates:
    """The asset_state_store messages as the triggerer's supervisor answers them: values by (asset, key)."""

    def __init__(self) -> None:
        self.values: dict[tuple[str, str], Any] = {}

    async def asend(self, message: object) -> object:
        if isinstance(message, GetAssetStateStoreByName):
            if (message.name, message.key) not in self.values:
                return ErrorResponse(error=ErrorType.ASSET_STORE_NOT_FOUND)
            return AssetStateStoreResult(value=self.values[message.name, message.key])
        if isinstance(message, SetAssetStateStoreByName):
            self.values[message.name, message.key] = message.value
            return OKResponse(ok=True)
        raise AssertionError(f"not an asset_state_store message: {message!r}")

    def watermark(self, asset: str) -> dict[str, Any] | None:
        return next((v for (name, _), v in self.values.items() if name == asset), None)


@pytest.fixture
def states(monkeypatch: pytest.MonkeyPatch) -> AssetStates:
    from airflow.sdk.execution_time import task_runner

    fake = AssetStates()
    monkeypatch.setattr(task_runner, "SUPERVISOR_COMMS", fake, raising=False)
    return fake


def watcher(asset: str, platform: str = "flyte", poll_interval: float = 1.0, **event_filter: Any):
    trigger = RemoteEventTrigger(f"{platform}_default", platform, event_filter, poll_interval=poll_interval)
    trigger.asset_state_store = AssetStateStoreAccessors(inlets=[Asset(name=asset, uri=f"test://{asset}")])
    return trigger


class Triggerer:
    """Triggers run as the triggerer runs watchers: one shared poll per shared_stream_key, each trigger's
    filter_shared_stream over it; the payloads each trigger yields, by trigger id. Each event is bound to the
    listing it came from, as the triggerer binds it, and confirmed stored in Airflow's database at once, or,
    with ``stores=False``, only when :meth:`store` is called (a database that has not stored them yet)."""

    def __init__(self, stores: bool = True, ack_timeout: float = DEFAULT_ACK_TIMEOUT) -> None:
        self.manager = SharedStreamManager(ack_timeout=ack_timeout)
        self.stores = stores
        self.events: dict[int, list[dict[str, Any]]] = {}
        self.unstored: list[int] = []  # the persist-confirmation seqs of the events not stored yet
        self._running: dict[int, tuple[asyncio.Task[None], Any]] = {}

    def start(self, trigger_id: int, trigger: RemoteEventTrigger) -> None:
        key = trigger.shared_stream_key()
        stream = self.manager.subscribe(trigger_id=trigger_id, trigger=trigger, key=key)

        async def consume() -> None:
            async for event in trigger.filter_shared_stream(stream):
                # Bound as soon as taken, with no await between, as the triggerer does.
                seq = self.manager.bind_pending_event(trigger_id=trigger_id, key=key)
                self.events.setdefault(trigger_id, []).append(event.payload)
                if seq is not None:
                    self.unstored.append(seq)
                if self.stores:
                    self.store()

        self._running[trigger_id] = (asyncio.ensure_future(consume()), key)

    def store(self) -> None:
        """Airflow's database has stored every event so far: the triggerer's next sync says so."""
        self.manager.confirm_persisted(self.unstored)
        self.unstored = []

    async def stop(self, trigger_id: int) -> None:
        task, key = self._running.pop(trigger_id)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await self.manager.unsubscribe(trigger_id, key)

    async def failure(self, trigger_id: int) -> BaseException | None:
        """How a trigger that failed by itself failed, once it has; then it is gone, as the triggerer drops it."""
        task, key = self._running.pop(trigger_id)
        await asyncio.wait([task])
        await self.manager.unsubscribe(trigger_id, key)
        return task.exception()

    async def stop_all(self) -> None:
        for trigger_id in list(self._running):
            await self.stop(trigger_id)
        await close_shared_clients()

    async def kill(self, states: AssetStates) -> None:
        """SIGKILLed: the asset states stay as they are now; nothing it would do on a stop reaches them."""
        kept = dict(states.values)
        await self.stop_all()
        states.values = kept


async def until(check: Callable[[], Any], seconds: float, what: str) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if value := check():
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out after {seconds} s waiting for {what}")


def run_ids(payloads: list[dict[str, Any]]) -> list[str]:
    return [p["run_id"] for p in payloads]


def test_ten_watchers_of_one_project_share_one_listing_per_poll_and_each_end_fires_once(flyte, states):
    """Ten watchers (ten tasks, phases) of one project: one ListRuns per poll for all, and each end is one
    event of the watchers that want it."""

    async def scenario() -> tuple[dict[int, list[dict[str, Any]]], int, float, str, str]:
        triggerer = Triggerer()
        filters = [{"task_name": "demo.say_hello"}, {"task_name": "demo.fail", "phases": ["failed"]}]
        filters += [{"task_name": f"demo.unused_{n}"} for n in range(8)]
        for n, event_filter in enumerate(filters):
            triggerer.start(n, watcher(f"a{n}", **event_filter))
        await until(lambda: all(states.watermark(f"a{n}") for n in range(10)), 10, "every first listing")
        calls, started = flyte.emulator.app.calls[LIST_RUNS], time.monotonic()
        hello = (await asyncio.to_thread(start_run, "demo.say_hello", {"name": "a"}, "hello"))[1].run_id
        failed = (await asyncio.to_thread(start_run, "demo.fail", {}, "fail"))[1].run_id
        await until(lambda: 0 in triggerer.events and 1 in triggerer.events, 10, "both ends")
        await asyncio.sleep(2.5)  # more polls list both runs again: no event repeats
        listings, seconds = flyte.emulator.app.calls[LIST_RUNS] - calls, time.monotonic() - started
        await triggerer.stop_all()
        return triggerer.events, listings, seconds, hello, failed

    events, listings, seconds, hello, failed = asyncio.run(scenario())
    assert set(events) == {0, 1}
    assert run_ids(events[0]) == [hello] and run_ids(events[1]) == [failed]
    payload = events[0][0]
    assert payload["phase"] == "succeeded" and payload["task"] == "demo.say_hello"
    assert payload["ref"]["scope"]["project"] == "flytesnacks" and payload["summary"].startswith(
        "demo.say_hello"
    )
    assert events[1][0]["phase"] == "failed"
    # one listing a second (the poll interval) for the ten, not ten
    assert listings <= seconds + 2, (
        f"{listings} ListRuns in {seconds:.1f} s for ten watchers polling every 1 s"
    )


def test_a_restarted_watcher_fires_the_ends_it_missed_and_none_again(flyte, states):
    """A watcher stopped (a triggerer gone) and started again from the asset's watermark: the run that ended
    meanwhile fires, the one that fired before does not; a run that ended further back than the shared
    listing reaches is listed by the watcher alone."""

    async def scenario() -> tuple[list[str], list[str], str, str, str]:
        triggerer = Triggerer()
        triggerer.start(1, watcher("trained", task_name="demo.say_hello"))
        await until(lambda: states.watermark("trained"), 10, "the first listing")
        first = (await asyncio.to_thread(start_run, "demo.say_hello", {"name": "a"}, "first"))[1].run_id
        await until(lambda: triggerer.events.get(1), 10, "the first end")
        # the watermark follows its event once Airflow stored it
        await until(lambda: first in (states.watermark("trained") or {}).get("fired", {}), 5, "the watermark")
        await triggerer.stop(1)
        missed = (await asyncio.to_thread(start_run, "demo.say_hello", {"name": "b"}, "missed"))[1].run_id
        old = (await asyncio.to_thread(start_run, "demo.say_hello", {"name": "c"}, "old"))[1].run_id
        await until(lambda: all(r["phase"] == "ACTION_PHASE_SUCCEEDED" for r in flyte.runs), 10, "both ends")
        with flyte.emulator.state.lock:  # "old" ended 7 minutes ago: before the shared listing's reach (LAG)
            flyte.emulator.state.runs["flytesnacks", "development", old].created -= 420
        stored = states.watermark("trained")
        assert stored is not None
        stored["since"] = "2020-01-01T00:00:00Z"  # the watcher was away for long
        again = Triggerer()
        again.start(2, watcher("trained", task_name="demo.say_hello"))
        await until(lambda: len(again.events.get(2, [])) >= 2, 10, "the missed ends")
        await asyncio.sleep(1.5)
        await again.stop_all()
        await triggerer.stop_all()
        return run_ids(triggerer.events[1]), run_ids(again.events[2]), first, missed, old

    before, after, first, missed, old = asyncio.run(scenario())
    assert before == [first]
    assert sorted(after) == sorted([missed, old]) and after[0] == old  # oldest end first


def test_a_julep_watcher_fires_once_per_execution_of_its_task_that_ends(julep, states):
    task_id = str(uuid.uuid4())
    headers = {"Authorization": f"Bearer {JULEP_KEY}"}
    definition = {"name": "echo", "main": [{"evaluate": {"said": "$ _.text"}}]}
    httpx.put(
        f"{julep.url}/agents/{DEMO_AGENT_ID}/tasks/{task_id}", json=definition, headers=headers
    ).raise_for_status()

    def execute(text: str) -> str:
        response = httpx.post(
            f"{julep.url}/tasks/{task_id}/executions", json={"input": {"text": text}}, headers=headers
        )
        return str(response.raise_for_status().json()["id"])

    async def scenario() -> tuple[list[dict[str, Any]], str]:
        triggerer = Triggerer()
        triggerer.start(1, watcher("echoed", "julep", task_id=task_id))
        await until(lambda: states.watermark("echoed"), 10, "the first listing")
        execution = await asyncio.to_thread(execute, "hi")
        await until(lambda: triggerer.events.get(1), 10, "the end")
        await asyncio.sleep(2.2)
        await triggerer.stop_all()
        return triggerer.events[1], execution

    events, execution = asyncio.run(scenario())
    assert run_ids(events) == [execution]
    assert events[0]["task"] == task_id and events[0]["phase"] == "succeeded"


def test_a_watermark_stays_before_events_airflow_has_not_stored_and_a_triggerer_killed_then_fires_them_again(
    flyte, states
):
    """The watermark after a watcher's events is not written while Airflow has not stored them, however many
    polls go by: a triggerer SIGKILLed then leaves them to fire again where the watcher runs next (never
    lost)."""

    async def scenario() -> tuple[list[str], dict[str, Any] | None, str]:
        triggerer = Triggerer(stores=False)
        triggerer.start(1, watcher("trained", task_name="demo.say_hello"))
        await until(lambda: states.watermark("trained"), 10, "the first listing")
        ended = (await asyncio.to_thread(start_run, "demo.say_hello", {"name": "a"}, "ended"))[1].run_id
        await until(lambda: triggerer.events.get(1), 10, "the event")
        listed = flyte.emulator.app.calls[LIST_RUNS]
        await until(lambda: flyte.emulator.app.calls[LIST_RUNS] >= listed + 4, 10, "four more polls")
        unstored = states.watermark("trained") or {}
        assert ended not in unstored["fired"], "the watermark moved past an event Airflow has not stored"
        await triggerer.kill(states)
        again = Triggerer()
        again.start(2, watcher("trained", task_name="demo.say_hello"))
        await until(lambda: again.events.get(2), 10, "the event again")
        await until(
            lambda: ended in (states.watermark("trained") or {})["fired"], 10, "the watermark after it"
        )
        await again.stop_all()
        return run_ids(again.events[2]), states.watermark("trained"), ended

    fired_again, stored, ended = asyncio.run(scenario())
    assert fired_again == [ended]
    assert stored is not None and ended in stored["fired"]


def test_a_watermark_follows_events_as_soon_as_airflow_stored_them_and_a_triggerer_killed_then_repeats_none(
    flyte, states
):
    """Once Airflow has stored a watcher's events its watermark moves past them, without waiting for the next
    poll (30 s away here): a triggerer SIGKILLed right after does not fire them again where the watcher runs
    next."""
    interval = 30.0

    async def scenario() -> tuple[list[str], list[dict[str, Any]], str]:
        triggerer = Triggerer()
        triggerer.start(1, watcher("trained", task_name="demo.say_hello", poll_interval=interval))
        await until(lambda: states.watermark("trained"), 10, "the first listing")
        await triggerer.stop(1)  # the next poll would be 30 s away: started again, it lists at once
        ended = (await asyncio.to_thread(start_run, "demo.say_hello", {"name": "a"}, "ended"))[1].run_id
        await until(lambda: flyte.runs[0]["phase"] == "ACTION_PHASE_SUCCEEDED", 10, "the end")
        triggerer.start(2, watcher("trained", task_name="demo.say_hello", poll_interval=interval))
        await until(lambda: triggerer.events.get(2), 10, "the event")
        await until(
            lambda: ended in (states.watermark("trained") or {})["fired"], 10, "the watermark after it"
        )
        await triggerer.kill(states)
        written = (states.watermark("trained") or {})["since"]
        again = Triggerer()
        again.start(3, watcher("trained", task_name="demo.say_hello", poll_interval=interval))
        # Its first listing done: behind the shared listing's start, it listed alone and moved its watermark up.
        await until(lambda: (states.watermark("trained") or {})["since"] != written, 10, "its first listing")
        await again.stop_all()
        return run_ids(triggerer.events[2]), again.events.get(3, []), ended

    fired, fired_again, ended = asyncio.run(scenario())
    assert fired == [ended]
    assert fired_again == []


def test_a_watcher_whose_events_airflow_never_says_it_stored_fails_and_keeps_its_watermark_before_them(
    flyte, states
):
    """Events Airflow does not confirm stored within its ack timeout (a write that failed, a lost sync) fail
    the watcher, which keeps its watermark before them: where it runs next they fire again."""

    async def scenario() -> tuple[BaseException | None, dict[str, Any] | None, list[str], str]:
        triggerer = Triggerer(stores=False, ack_timeout=1.0)
        triggerer.start(1, watcher("trained", task_name="demo.say_hello"))
        await until(lambda: states.watermark("trained"), 10, "the first listing")
        ended = (await asyncio.to_thread(start_run, "demo.say_hello", {"name": "a"}, "ended"))[1].run_id
        await until(lambda: triggerer.events.get(1), 10, "the event")
        failure = await asyncio.wait_for(triggerer.failure(1), 10)
        await triggerer.stop_all()
        return failure, states.watermark("trained"), run_ids(triggerer.events[1]), ended

    failure, stored, fired, ended = asyncio.run(scenario())
    assert fired == [ended]
    assert isinstance(failure, AckTimeout)
    assert stored is not None and ended not in stored["fired"]


def test_a_watcher_run_alone_writes_its_watermark_once_whoever_runs_it_took_its_events(flyte, states):
    """A watcher run alone (``run()``: no shared poll, no word from Airflow of what it stored) writes the
    watermark after an event once whoever runs it asks for the next one: not while it holds the event."""

    async def scenario() -> tuple[dict[str, Any], dict[str, Any], str]:
        events = watcher("trained", task_name="demo.say_hello").run()
        first = asyncio.ensure_future(anext(events))
        await until(lambda: states.watermark("trained"), 10, "the first listing")
        ended = (await asyncio.to_thread(start_run, "demo.say_hello", {"name": "a"}, "ended"))[1].run_id
        event = await asyncio.wait_for(first, 10)
        held = dict(states.watermark("trained") or {})  # nothing polls while the event is held
        second = asyncio.ensure_future(anext(events))
        await until(
            lambda: ended in (states.watermark("trained") or {})["fired"], 10, "the watermark after it"
        )
        second.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await second
        await events.aclose()
        await close_shared_clients()
        return event.payload, held, ended

    payload, held, ended = asyncio.run(scenario())
    assert payload["run_id"] == ended
    assert ended not in held["fired"]


@pytest.mark.parametrize(
    ("platform", "event_filter", "poll", "says"),
    [
        ("flyte", {"task_name": "train"}, 60, r"such as 'my_env\.train'"),
        ("julep", {"task_id": "echo"}, 60, r"the task's UUID"),
        (
            "labelbox",
            {"project_id": "ckproj0000000000000000001", "watch": "labels"},
            60,
            r"poll_interval=60 is too short for this watcher: use 900 s or more \(each poll starts a Labelbox "
            r"export; \[remote_tasks\] costly_watch_min_poll_interval sets the minimum\)",
        ),
        ("lbx", {}, 60, r"Unknown platform 'lbx'; known: flyte, julep, labelbox, avala"),
        (
            "flyte",
            {"task_name": "a.b"},
            0.1,
            r"poll_interval=0\.1 is too short for a watcher: use 1 s or more",
        ),
    ],
)
def test_a_watcher_that_cannot_work_is_refused_when_the_dag_is_parsed(platform, event_filter, poll, says):
    with pytest.raises(ConfigurationError, match=says):
        RemoteEventTrigger(f"{platform}_default", platform, event_filter, poll_interval=poll)


def test_a_watcher_is_plain_json_and_shares_its_poll_only_with_watchers_of_the_same_listing():
    trained = RemoteEventTrigger("flyte_default", "flyte", {"task_name": "ml.train"}, poll_interval=30)
    AssetWatcher(name="trained", trigger=trained)  # what a DAG file does: Airflow takes it
    classpath, kwargs = trained.serialize()
    assert classpath == "airflow_remote_tasks.triggers.events.RemoteEventTrigger"
    assert RemoteEventTrigger(**kwargs).serialize() == (classpath, kwargs)
    failed = RemoteEventTrigger("flyte_default", "flyte", {"task_name": "ml.eval", "phases": ["failed"]}, 30)
    assert failed.shared_stream_key() == trained.shared_stream_key()  # one project: one poll
    other_project = RemoteEventTrigger(
        "flyte_default", "flyte", {"task_name": "ml.train", "project": "p"}, 30
    )
    other_interval = RemoteEventTrigger("flyte_default", "flyte", {"task_name": "ml.train"}, poll_interval=60)
    assert len({t.shared_stream_key() for t in (trained, other_project, other_interval)}) == 3


def test_the_example_dag_is_scheduled_on_the_training_tasks_successes():
    from example_event_scheduling import example_event_scheduling_dag, trained_model

    (watcher,) = trained_model.watchers
    trigger = watcher.trigger
    assert isinstance(trigger, RemoteEventTrigger)
    assert trigger.checked.task == "demo.stats" and [p.value for p in trigger.checked.phases] == ["succeeded"]
    assert list(example_event_scheduling_dag.timetable.asset_condition.objects) == [trained_model]
