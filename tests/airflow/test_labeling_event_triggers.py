"""Asset watchers of Avala projects and Labelbox projects (RemoteEventTrigger) against the emulators, run as the
triggerer runs them (the helpers of test_event_triggers): one event per change the listing shows (Labelbox: an
export that ends, or a poll's export that finds rows reaching a workflow status), none again while the state
stays, and a restart from the asset's watermark firing what happened while it was down."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from test_event_triggers import Triggerer, run_ids, states, until, watcher

from airflow_remote_tasks.emulators.labelbox.catalog import DEMO_DATASET_ID, DEMO_PROJECT_ID
from airflow_remote_tasks.platforms.labelbox.labels import PREFIX
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


def reach(labelbox: Any, status: str, *indexes: int) -> None:
    rows = [f"ckdr{DEMO_DATASET_ID[-6:]}{i:012d}" for i in indexes]
    body = {"project_id": DEMO_PROJECT_ID, "data_row_ids": rows, "status": status}
    httpx.post(f"{labelbox.server.url}/_emulator/workflow", json=body).raise_for_status()


def row_numbers(payloads: list[dict[str, Any]]) -> list[list[int]]:
    return [sorted(int(row[-12:]) for row in p["data_row_ids"]) for p in payloads]


@pytest.mark.parametrize("activity", ["last_activity_at", "label_created_at"])
def test_a_labelbox_labels_watcher_fires_once_per_poll_that_finds_rows_reaching_the_status(
    labelbox, states, monkeypatch, activity
):
    """Two watchers of one project's Done rows share one export a poll; rows 1 and 3 labelled and done fire one
    event, and no poll after (their windows overlap) repeats them. Row 0, done long ago and active again now,
    is in a window on activity, not in one on label creation. Restarted from the asset's watermark, the watcher
    fires the row done while it was down, and nothing again."""
    monkeypatch.setenv("AIRFLOW__REMOTE_TASKS__COSTLY_WATCH_MIN_POLL_INTERVAL", "1")  # short polls for a test
    fields = {
        "project_id": DEMO_PROJECT_ID,
        "watch": "labels",
        "workflow_status": "Done",
        "activity": activity,
    }

    async def scenario() -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
        triggerer = Triggerer()
        triggerer.start(1, watcher("labelled", "labelbox", **fields))
        triggerer.start(2, watcher("labelled-too", "labelbox", **fields))
        await until(
            lambda: states.watermark("labelled") and states.watermark("labelled-too"), 10, "a listing"
        )
        await asyncio.to_thread(reach, labelbox, "Done", 1, 3, 0)
        await until(lambda: triggerer.events.get(1) and triggerer.events.get(2), 10, "the rows done")
        await asyncio.sleep(2.5)  # more polls, their windows overlapping: no event repeats
        first, shared = list(triggerer.events[1]), list(triggerer.events[2])
        await triggerer.stop_all()
        await asyncio.to_thread(reach, labelbox, "Done", 5)  # done while no triggerer runs the watcher
        again = Triggerer()
        again.start(3, watcher("labelled", "labelbox", **fields))
        await until(lambda: again.events.get(3), 10, "the row done while down")
        await asyncio.sleep(2.2)
        await again.stop_all()
        return first, shared, again.events[3]

    first, shared, after = asyncio.run(scenario())
    done_now = [0, 1, 3] if activity == "last_activity_at" else [1, 3]
    assert row_numbers(first) == [done_now] and row_numbers(after) == [[5]]
    assert first[0]["data_row_count"] == len(done_now) and first[0]["workflow_status"] == "Done"
    assert [p["export_id"] for p in shared] == [p["export_id"] for p in first]  # one export for both
    assert first[0]["summary"].startswith(
        f"Labelbox project {DEMO_PROJECT_ID}: rows reached Done ({activity}"
    )
    names = [t["name"] for t in labelbox.tasks if t["name"].startswith(PREFIX)]
    assert len(names) == len(set(names))  # one export per window: a poll never started two
