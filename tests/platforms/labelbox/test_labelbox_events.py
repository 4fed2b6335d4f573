"""Labelbox export tasks that end, as asset watchers see them: the filter checked without a connection, and the
organization's tasks listed by status, newest first, over literal skip/first pages, until a page ended before the
moment asked; only the project's exports (its id in the task's metadata, a guess, tested both ways)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from labelbox_replies import PROJECT, data, platform

from airflow_remote_tasks.core.errors import ConfigurationError, UnexpectedAnswerError
from airflow_remote_tasks.core.events import EndedRun, Watermark, changes, start
from airflow_remote_tasks.core.phases import Phase
from airflow_remote_tasks.core.replay import Replay
from airflow_remote_tasks.platforms.labelbox.events import PAGE_SIZE
from airflow_remote_tasks.platforms.labelbox.labels import PREFIX
from airflow_remote_tasks.platforms.labelbox.platform import LabelboxPlatform

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
CHECKED = LabelboxPlatform.check_event_filter({"project_id": PROJECT, "watch": "exports"})


def task(
    number: int, seconds: float, status: str = "COMPLETE", project: str | None = PROJECT
) -> dict[str, object]:
    changed = (T0 + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return {
        "id": f"cktask{number:019d}",
        "name": f"export {number}",
        "type": "export-data-rows",
        "status": status,
        "completionPercentage": 100.0,
        "createdAt": changed,
        "updatedAt": changed,
        "errors": None,
        "result": None,
        "metadata": {"projectId": project} if project else None,
    }


def tasks_page(*tasks: dict[str, object]) -> object:
    return data({"organization": {"tasks": list(tasks)}})


def listed(*pages: object, since: float = 0, checked=CHECKED) -> tuple[list[EndedRun], Replay]:
    replay = Replay(list(pages))
    lb = platform()
    found = replay.run(lb.ended_runs(checked.listing, T0 + timedelta(seconds=since)), platform=lb)
    return found, replay


def test_tasks_are_listed_by_status_page_by_page_until_one_ended_before_the_moment():
    full = tasks_page(*(task(n, 100 - n * 0.01) for n in range(PAGE_SIZE)))
    second = tasks_page(task(900, 50), task(901, 40, project="ckprojother00000000000001"), task(902, 5))
    found, replay = listed(full, second, since=10)
    bodies = [json.loads(r.content) for r in replay.requests]
    assert [b["variables"] for b in bodies] == [{"param_0": "COMPLETE"}] * 2
    assert "skip: 0 first: 100" in bodies[0]["query"] and "skip: 100 first: 100" in bodies[1]["query"]
    assert bodies[0]["query"].startswith("query GetOrganizationTasksPyApi($param_0: TaskStatus!)")
    # another project's export and one that ended before the moment are no events
    assert len(found) == PAGE_SIZE + 1 and found[-1].ref.run_id.endswith("900")
    assert found[-1].status.phase is Phase.SUCCEEDED and found[-1].task == PROJECT


def test_a_page_that_ended_before_the_moment_ends_the_reading_even_when_full():
    old = tasks_page(*(task(n, 1) for n in range(PAGE_SIZE)))
    found, replay = listed(old, since=10)
    assert found == [] and len(replay.requests) == 1


def test_failed_exports_are_listed_once_selected_and_each_end_fires_once():
    checked = LabelboxPlatform.check_event_filter(
        {"project_id": PROJECT, "watch": "exports", "phases": ["succeeded", "failed"]}
    )
    assert checked.listing["statuses"] == ["COMPLETE", "FAILED"]
    found, replay = listed(tasks_page(task(1, 30)), tasks_page(task(2, 20, status="FAILED")), checked=checked)
    assert [json.loads(r.content)["variables"]["param_0"] for r in replay.requests] == ["COMPLETE", "FAILED"]
    first = changes(found, checked, start([], T0, checked))
    assert [e.status.phase for e in first.events] == [Phase.FAILED, Phase.SUCCEEDED]  # oldest end first
    assert changes(found, checked, first.watermark).events == []


def test_a_restart_from_a_stored_watermark_fires_what_ended_while_down_and_not_what_fired():
    fired = changes(listed(tasks_page(task(1, 30)))[0], CHECKED, start([], T0, CHECKED))
    stored = Watermark.model_validate_json(fired.watermark.model_dump_json())
    found, _ = listed(tasks_page(task(2, 60), task(1, 30)))
    assert [e.ref.run_id[-1] for e in changes(found, CHECKED, stored).events] == ["2"]


def test_an_export_whose_metadata_names_no_project_fires_no_watcher_of_a_project():
    found, _ = listed(tasks_page(task(1, 30, project=None)))
    assert found == []


def test_the_exports_a_labels_watcher_starts_fire_no_exports_watcher():
    own = task(1, 30) | {"name": f"{PREFIX}0123456789ab-20260301T120000Z-20260301T121500Z"}
    found, _ = listed(tasks_page(own, task(2, 20)))
    assert [run.ref.run_id[-1] for run in found] == ["2"]


def test_a_task_without_a_time_is_an_unexpected_answer():
    broken = task(1, 30) | {"updatedAt": None}
    with pytest.raises(UnexpectedAnswerError, match=r"Labelbox task 'cktask0+1' updatedAt None is not"):
        listed(tasks_page(broken))


@pytest.mark.parametrize(
    ("event_filter", "says"),
    [
        ({"watch": "exports"}, r"needs 'project_id', the project's id .* not None"),
        ({"project_id": PROJECT, "watch": "tasks"}, r"'watch' is 'exports' .* or 'labels' .* not 'tasks'"),
        (
            {"project_id": PROJECT, "watch": "labels", "phases": ["succeeded"]},
            r"'labels' event filters take project_id, watch, workflow_status, activity; 'phases'",
        ),
        (
            {"project_id": PROJECT, "watch": "labels", "workflow_status": "done"},
            r"'workflow_status' is one of ToLabel, InReview, InRework, Done \(default Done\), not 'done'",
        ),
        (
            {"project_id": PROJECT, "watch": "labels", "activity": "updated_at"},
            r"'activity' is one of last_activity_at, label_created_at \(default last_activity_at\)",
        ),
        (
            {
                "project_id": PROJECT,
                "watch": "labels",
                "workflow_status": "ToLabel",
                "activity": "label_created_at",
            },
            r"rows to label cannot time them by their label's creation",
        ),
        ({"project_id": "a/b", "watch": "labels"}, r"needs 'project_id', the project's id"),
        ({"project_id": PROJECT, "watch": "exports", "phases": ["running"]}, r"running is not an end"),
        ({"project_id": PROJECT, "watch": "exports", "phases": ["timed_out"]}, r"ends in one of: "),
        (
            {"project_id": PROJECT, "watch": "exports", "status": "COMPLETE"},
            r"take project_id, watch, phases",
        ),
    ],
)
def test_filters_are_refused_naming_the_fix(event_filter: dict[str, object], says: str):
    with pytest.raises(ConfigurationError, match=says):
        LabelboxPlatform.check_event_filter(event_filter)
