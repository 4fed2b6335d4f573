"""Asset watchers of Avala projects and Labelbox projects (RemoteEventTrigger) against the emulators, run as the
triggerer runs them (the helpers of test_event_triggers): one event per change the listing shows, none again
while the state stays, and a restart from the asset's watermark firing what happened while it was down."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from test_event_triggers import Triggerer, states, until, watcher

pytestmark = [pytest.mark.airflow]
__all__ = ["states"]  # the fixture, used by name


def change_tasks(avala: Any, **payload: object) -> dict[str, Any]:
    response = httpx.post(f"{avala.server.url}/_emulator/tasks", json=payload)
    return dict(response.raise_for_status().json())


def test_an_avala_watcher_fires_once_each_time_every_task_of_the_project_is_completed(avala, states):
    change_tasks(avala, project="proj-ev", add=3)

    async def scenario() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        triggerer = Triggerer()
        triggerer.start(1, watcher("labelled", "avala", project="proj-ev", watch="tasks", status="completed"))
        await until(lambda: states.watermark("labelled"), 10, "the first listing")
        await asyncio.to_thread(change_tasks, avala, project="proj-ev", status="completed", count=2)
        await asyncio.sleep(1.5)  # some task is not completed: no event
        assert not triggerer.events.get(1)
        await asyncio.to_thread(change_tasks, avala, project="proj-ev", status="completed")
        await until(lambda: triggerer.events.get(1), 10, "the project done")
        await asyncio.sleep(2.5)  # it stays done: polls list it again, no event
        first = list(triggerer.events[1])
        await triggerer.stop(1)
        # while no triggerer runs the watcher: new tasks arrive and are all done
        await asyncio.to_thread(change_tasks, avala, project="proj-ev", add=2)
        await asyncio.to_thread(change_tasks, avala, project="proj-ev", status="completed")
        again = Triggerer()
        again.start(2, watcher("labelled", "avala", project="proj-ev", watch="tasks", status="completed"))
        await until(lambda: again.events.get(2), 10, "the edge reached while down")
        await asyncio.sleep(2.2)
        await again.stop_all()
        await triggerer.stop_all()
        return first, again.events[2]

    first, after = asyncio.run(scenario())
    assert len(first) == 1 and len(after) == 1
    assert first[0]["counts"] == {"tasks": 3, "completed": 3} and after[0]["counts"]["tasks"] == 5
    assert (
        first[0]["project"] == "proj-ev" and "every task of Avala project proj-ev (3)" in first[0]["summary"]
    )
    assert first[0]["run_id"] != after[0]["run_id"]
