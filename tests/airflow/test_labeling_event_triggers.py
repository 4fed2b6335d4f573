"""Asset watchers of Avala projects and Labelbox projects (RemoteEventTrigger) against the emulators, run as the
triggerer runs them (the helpers of test_event_triggers): one event per change the listing shows, none again
while the state stays, and a restart from the asset's watermark firing what happened while it was down."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from test_event_triggers import Triggerer, run_ids, states, until, watcher

from airflow_remote_tasks.emulators.labelbox.catalog import DEMO_PROJECT_ID
from airflow_remote_tasks.platforms.labelbox.queries import EXPORT_PROJECT
from support import LABELBOX_KEY

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


def export_project(labelbox: Any, project_id: str = DEMO_PROJECT_ID) -> str:
    body = {"query": EXPORT_PROJECT, "variables": {"input": {"filters": {"projectId": project_id}}}}
    headers = {"Authorization": f"Bearer {LABELBOX_KEY}"}
    response = httpx.post(labelbox.url, json=body, headers=headers).raise_for_status()
    return str(response.json()["data"]["exportDataRowsInProject"]["taskId"])


@pytest.mark.parametrize("metadata_names_project", [True, False], ids=["metadata-project", "no-metadata"])
def test_a_labelbox_watcher_fires_once_per_export_of_the_project_that_completes(
    labelbox, states, metadata_names_project
):
    httpx.post(f"{labelbox.server.url}/_emulator/task-metadata", json={"projects": metadata_names_project})

    async def scenario() -> tuple[list[dict[str, Any]], list[dict[str, Any]], str, str]:
        triggerer = Triggerer()
        triggerer.start(1, watcher("exported", "labelbox", project_id=DEMO_PROJECT_ID, watch="exports"))
        await until(lambda: states.watermark("exported"), 10, "the first listing")
        first = await asyncio.to_thread(export_project, labelbox)
        if metadata_names_project:
            await until(lambda: triggerer.events.get(1), 10, "the export's end")
        await asyncio.sleep(2.5)  # more polls list it again: no event repeats
        before = list(triggerer.events.get(1, []))
        await triggerer.stop(1)
        missed = await asyncio.to_thread(export_project, labelbox)  # ends while no triggerer runs the watcher
        await asyncio.sleep(1)
        again = Triggerer()
        again.start(2, watcher("exported", "labelbox", project_id=DEMO_PROJECT_ID, watch="exports"))
        if metadata_names_project:
            await until(lambda: again.events.get(2), 10, "the export that ended while down")
        await asyncio.sleep(2.2)
        await again.stop_all()
        await triggerer.stop_all()
        return before, again.events.get(2, []), first, missed

    before, after, first, missed = asyncio.run(scenario())
    if not metadata_names_project:  # the guess answered the other way: the project's exports cannot be told
        assert before == [] and after == []
        return
    assert run_ids(before) == [first] and run_ids(after) == [missed]
    assert before[0]["phase"] == "succeeded" and before[0]["raw_phase"] == "COMPLETE"
