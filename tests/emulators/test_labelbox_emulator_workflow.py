"""The Labelbox emulator's workflow: rows moved to a workflow status at a time (``POST /_emulator/workflow``), and
project exports that honour the brief's filters on them: the workflow status (ToLabel as "in no task queue"),
and date ranges on the rows' last activity and their labels' creation (BETWEEN, one bound, a whole day)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import httpx
import pytest

from airflow_remote_tasks.emulators.labelbox.catalog import DEMO_DATASET_ID, DEMO_PROJECT_ID
from airflow_remote_tasks.platforms.labelbox.queries import EXPORT_PROJECT
from support import LABELBOX_KEY

T0, T1, T2 = "2026-03-01T10:00:00.000Z", "2026-03-01T12:00:00.000Z", "2026-03-02T08:30:00.000Z"


def row(index: int) -> str:
    return f"ckdr{DEMO_DATASET_ID[-6:]}{index:012d}"


def move(labelbox: Any, status: str, *indexes: int, **times: str) -> list[dict[str, Any]]:
    body = {"data_row_ids": [row(i) for i in indexes], "status": status, **times}
    return list(httpx.post(f"{labelbox.server.url}/_emulator/workflow", json=body).raise_for_status().json())


def exported(labelbox: Any, *query: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows a project export with this search query holds, in its order."""
    filters = {"projectId": DEMO_PROJECT_ID, "searchQuery": {"scope": None, "query": list(query)}}
    body = {"query": EXPORT_PROJECT, "variables": {"input": {"filters": filters, "streamable": True}}}
    answer = httpx.post(labelbox.url, json=body, headers={"Authorization": f"Bearer {LABELBOX_KEY}"})
    task_id = answer.raise_for_status().json()["data"]["exportDataRowsInProject"]["taskId"]
    stream = labelbox.emulator.state.tasks[task_id].streams["RESULT"]
    return [json.loads(x) for x in stream.read(0, stream.size - 1).splitlines()] if stream.size else []


def indexes(lines: list[dict[str, Any]]) -> list[int]:
    return sorted(int(x["data_row"]["id"][-12:]) for x in lines)


def status(value: str) -> dict[str, Any]:
    return (
        {"type": "task_queue_not_exist"}
        if value == "ToLabel"
        else {"type": "task_queue_status", "status": value}
    )


def between(kind: str, low: str, high: str) -> dict[str, Any]:
    return {
        "type": kind,
        "value": {"operator": "BETWEEN", "timezone": "UTC", "value": {"min": low, "max": high}},
    }


@pytest.fixture
def moved(labelbox: Any) -> Any:
    """Six seeded rows (the even ones labelled, so Done; the odd ones ToLabel) and four seeded after the project
    was (ToLabel), then: 1 and 3 Done at T1 (3 with a label made at T0), 5 InReview at T2, 0 back InRework."""
    assert labelbox.emulator.state.seeded[DEMO_DATASET_ID] == 6
    labelbox.emulator.state.add_rows(DEMO_DATASET_ID, 4)
    answered = move(labelbox, "Done", 1, at=T1)
    move(labelbox, "Done", 3, at=T1, label_at=T0)
    move(labelbox, "InReview", 5, at=T2)
    move(labelbox, "InRework", 0, at=T1)
    assert answered == [{"id": row(1), "status": "Done", "last_activity_at": T1}]
    return labelbox


def test_exports_hold_the_rows_of_the_workflow_status_asked_for(moved):
    assert indexes(exported(moved, status("Done"))) == [1, 2, 3, 4]
    assert indexes(exported(moved, status("InReview"))) == [5]
    assert indexes(exported(moved, status("InRework"))) == [0]
    assert indexes(exported(moved, status("ToLabel"))) == [6, 7, 8, 9]
    assert indexes(exported(moved)) == list(range(10))


def test_exports_hold_the_rows_last_active_or_labelled_within_the_range(moved):
    active = between("data_row_last_activity_at", "2026-03-01 11:59:59", "2026-03-01 12:00:00")
    assert indexes(exported(moved, active, status("Done"))) == [1, 3]
    assert indexes(exported(moved, active)) == [0, 1, 3]
    lines = exported(moved, active, status("Done"))
    assert {x["data_row"]["details"]["last_activity_at"] for x in lines} == {T1}
    labelled = between("labeled_at", "2026-03-01T09:59:00Z", "2026-03-01T10:00:00+00:00")
    assert indexes(exported(moved, labelled, status("Done"))) == [3]
    (line,) = exported(moved, labelled)
    created = [label["label_details"]["created_at"] for label in line["projects"][DEMO_PROJECT_ID]["labels"]]
    assert created == [T0]
    # one bound, and a day as an end (the whole of it)
    since = {
        "type": "data_row_last_activity_at",
        "value": {"operator": "GREATER_THAN_OR_EQUAL", "timezone": "UTC", "value": "2026-03-02 00:00:00"},
    }
    assert indexes(exported(moved, since)) == [5]
    day = between("data_row_last_activity_at", "2026-03-01", "2026-03-01")
    assert indexes(exported(moved, day)) == [0, 1, 3]


def test_seeded_rows_were_last_active_and_labelled_when_seeded(moved):
    then = between("data_row_last_activity_at", "2024-12-31", "2025-01-01")
    assert indexes(exported(moved, then, status("Done"))) == [2, 4]
    assert indexes(exported(moved, then)) == [2, 4, 6, 7, 8, 9]
    labelled_then = between("labeled_at", "2024-12-31", "2025-01-01")
    assert indexes(exported(moved, labelled_then, status("ToLabel"))) == []
    assert indexes(exported(moved, labelled_then)) == [0, 2, 4]  # 0's label is still the seeded one


def test_a_move_names_an_existing_row_and_status(labelbox):
    answer = httpx.post(
        f"{labelbox.server.url}/_emulator/workflow", json={"data_row_ids": [row(1)], "status": "Finished"}
    )
    assert answer.status_code >= 400


@pytest.mark.parametrize(
    ("query", "lines"),
    [
        # the 75 labelled seeded rows but 8 and 40 (active since)
        ([between("data_row_last_activity_at", "2024-12-31", "2025-01-01"), status("Done")], 73),
        ([between("data_row_last_activity_at", "2026-03-01", "2026-03-01")], 4),  # the rows moved
        ([between("labeled_at", "2025-01-01", "2025-01-01")], 75),  # 8's and 40's seeded labels too
        ([between("labeled_at", "2025-01-01", "2025-01-01"), status("ToLabel")], 0),
        ([between("labeled_at", "2026-03-01 09:00:00", "2026-03-01 12:00:00"), status("Done")], 2),  # 3, 40
        ([status("InRework")], 2),
    ],
)
def test_seeded_rows_counted_in_bulk_are_filtered_as_each_row_is(query: list[dict[str, Any]], lines: int):
    """A lazy export (seeded rows counted by runs) holds the bytes of one that names every row by id (each row
    filtered on its own), with rows moved since seeding among them."""
    from airflow_remote_tasks.emulators.labelbox.exports import build
    from airflow_remote_tasks.emulators.labelbox.state import LabelboxState

    state = LabelboxState(rows=150)
    state.add_rows(DEMO_DATASET_ID, 30)  # seeded after the project: not labelled
    state.set_workflow(DEMO_PROJECT_ID, [row(3), row(40)], "Done", at=_at(T1), label_at=_at(T0))
    state.set_workflow(DEMO_PROJECT_ID, [row(8), row(160)], "InRework", at=_at(T1))
    lazy = build(state, DEMO_PROJECT_ID, DEMO_DATASET_ID, {"searchQuery": {"query": query}})
    named = [{"ids": state.rows_of(DEMO_DATASET_ID), "operator": "is", "type": "data_row_id"}, *query]
    each = build(state, DEMO_PROJECT_ID, DEMO_DATASET_ID, {"searchQuery": {"query": named}})
    assert lazy.size == each.size and lazy.lines == each.lines == lines
    assert lazy.size == 0 or lazy.read(0, lazy.size - 1) == each.read(0, each.size - 1)


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
