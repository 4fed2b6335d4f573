"""A Labelbox project's rows that reach a workflow status ('watch': 'labels'), driven with canned GraphQL answers:
one export a poll, filtered by the status and the activity window, named after the window and created once
(a retried poll and a lost answer attach), waited for within bounds, its rows read as one change; and what the
watermark makes of such changes (rows fire once, again only when their time moves on). No server."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from labelbox_replies import PROJECT, TASK, USER, data, names, platform, routed, user_task, variables

from airflow_remote_tasks.core.errors import ApiError, ConfigurationError, UnexpectedAnswerError, is_transient
from airflow_remote_tasks.core.events import MAX_EVENT_ITEMS, EndedRun, changes, start
from airflow_remote_tasks.core.replay import Replay, Reply, reply
from airflow_remote_tasks.platforms.labelbox import labels
from airflow_remote_tasks.platforms.labelbox.platform import LabelboxPlatform

SINCE = datetime(2026, 3, 1, 12, 0, 0, 250000, tzinfo=timezone.utc)
NOW = datetime(2026, 3, 1, 12, 15, 30, 900000, tzinfo=timezone.utc)
FILE = "https://files.example/part-0"


def at(seconds: float) -> str:
    return (SINCE + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def line(row_id: str, active: float, labelled: float | None = None) -> dict[str, Any]:
    project: dict[str, Any] = {"name": "p", "labels": []}
    if labelled is not None:
        project["labels"] = [{"id": f"cklabel-{row_id}", "label_details": {"created_at": at(labelled)}}]
    return {
        "data_row": {"id": row_id, "details": {"last_activity_at": at(active)}},
        "projects": {PROJECT: project},
    }


def checked(**fields: Any) -> Any:
    return LabelboxPlatform.check_event_filter({"project_id": PROJECT, "watch": "labels", **fields})


def export_task(status: str, name: str = "") -> dict[str, Any]:
    return {"id": TASK, "name": name, "status": status, "type": "export-data-rows"}


def answers(
    lines: list[dict[str, Any]],
    *,
    found: list[dict[str, Any]] | None = None,
    created: list[Reply] | None = None,
) -> dict[str, list[Reply]]:
    body = b"".join(json.dumps(x).encode() + b"\n" for x in lines)
    reads = [user_task(export_task("IN_PROGRESS")), user_task(export_task("COMPLETE"))]
    return {
        "GetUserPyApi": [data(USER)],
        "GetUserCreatedTasksPyApi": [user_task(*(found or [])), *reads],
        "exportDataRowsInProjectPyApi": created
        if created is not None
        else [data({"exportDataRowsInProject": {"taskId": TASK, "isStreamable": True}})],
        "GetExportMetadataHeaderPyApi": [
            data({"task": {"exportMetadataHeader": {"totalSize": len(body), "totalLines": len(lines)}}})
        ],
        "GetExportFileFromOffsetPyApi": [
            data(
                {
                    "task": {
                        "exportFileFromOffset": {
                            "offsets": {"start": "0", "end": str(len(body) - 1)},
                            "lines": {"start": "0", "end": str(len(lines) - 1)},
                            "file": FILE,
                        }
                    }
                }
            )
        ],
        f"GET {FILE}": [reply(content=body)],
    }


def poll(routes: dict[str, list[Reply]], listing: dict[str, Any]) -> tuple[list[EndedRun], Replay]:
    replay = Replay(routed(routes))
    lb = platform()
    found = replay.run(labels.reached(lb.tasks, listing, SINCE, NOW), platform=lb)
    return found, replay


@pytest.mark.parametrize(
    ("activity", "kind", "times"),
    [
        ("last_activity_at", "data_row_last_activity_at", {"ckdr1": 40.0, "ckdr2": 300.0}),
        ("label_created_at", "labeled_at", {"ckdr1": 20.0, "ckdr2": 200.0}),
    ],
)
def test_a_poll_exports_the_rows_of_the_status_active_in_its_window_and_answers_them_as_one_change(
    activity: str, kind: str, times: dict[str, float]
):
    listing = checked(workflow_status="InReview", activity=activity).listing
    routes = answers([line("ckdr1", 40, labelled=20), line("ckdr2", 300, labelled=200)])
    (change,), replay = poll(routes, listing)
    assert names(replay) == [
        "GetUserPyApi",
        "GetUserCreatedTasksPyApi",  # the window's export looked up by name first
        "exportDataRowsInProjectPyApi",
        "GetUserCreatedTasksPyApi",
        "GetUserCreatedTasksPyApi",
        "GetExportMetadataHeaderPyApi",
        "GetExportFileFromOffsetPyApi",
        f"GET {FILE}",
    ]
    sent = variables(replay.requests[2])["input"]
    assert sent["taskName"].startswith(labels.PREFIX) and sent["taskName"].endswith(
        "-20260301T120000Z-20260301T121530Z"
    )
    assert sent["filters"] == {
        "projectId": PROJECT,
        "searchQuery": {
            "scope": None,
            "query": [
                {
                    "type": kind,
                    "value": {
                        "operator": "BETWEEN",
                        "timezone": "UTC",
                        "value": {"min": "2026-03-01 12:00:00", "max": "2026-03-01 12:15:30"},
                    },
                },
                {"type": "task_queue_status", "status": "InReview"},
            ],
        },
    }
    assert sent["params"]["includeDataRowDetails"] and sent["params"]["includeLabelDetails"]
    assert replay.pauses[3:5] == [
        0.0,
        labels.EXPORT_PAUSES[0],
    ]  # a running export is read again after a pause
    assert change.ref.run_id == TASK and change.ended_at == NOW.replace(microsecond=0)
    assert change.items == {row: SINCE + timedelta(seconds=s) for row, s in times.items()}
    assert change.details["window"] == {"from": "2026-03-01T12:00:00Z", "to": "2026-03-01T12:15:30Z"}


def test_rows_to_label_are_the_rows_in_no_task_queue():
    listing = checked(workflow_status="ToLabel").listing
    _, replay = poll(answers([]), listing)
    query = variables(replay.requests[2])["input"]["filters"]["searchQuery"]["query"]
    assert query[-1] == {"type": "task_queue_not_exist"}


def exports_of(name: str, *ends: str) -> list[dict[str, Any]]:
    """The key's user's exports of ``name``'s window start, ending at each of ``ends``."""
    prefix = name[: -len("20260301T121530Z")]
    return [
        export_task("COMPLETE", "airflow-other"),
        *(export_task("COMPLETE", prefix + end) for end in ends),
    ]


def test_a_retried_poll_attaches_to_the_latest_export_of_its_window_and_keeps_that_windows_end():
    listing = checked().listing
    first, replay = poll(answers([line("ckdr1", 40)]), listing)
    name = variables(replay.requests[2])["input"]["taskName"]
    routes = answers([line("ckdr1", 40)], found=exports_of(name, "20260301T120700Z", "20260301T121000Z"))
    (again,), replay = poll(routes, listing)
    assert "exportDataRowsInProjectPyApi" not in names(replay)
    assert again.ended_at == datetime(2026, 3, 1, 12, 10, tzinfo=timezone.utc)
    assert again.items == first[0].items


def test_an_export_of_the_window_that_would_not_move_the_listing_on_is_not_attached_to():
    """A first window is the listing's lag long: attached to at every poll, the watcher would stay in it."""
    listing = checked().listing
    _, replay = poll(answers([]), listing)
    name = variables(replay.requests[2])["input"]["taskName"]
    routes = answers([], found=exports_of(name, "20260301T120500Z"))  # since + LAG: reading it moves nothing
    _, replay = poll(routes, listing)
    assert names(replay).count("exportDataRowsInProjectPyApi") == 1


def test_a_lost_answer_to_the_export_is_looked_up_by_its_windows_name_and_attached_to():
    listing = checked().listing
    _, replay = poll(answers([line("ckdr1", 40)]), listing)
    name = variables(replay.requests[2])["input"]["taskName"]  # the same window: the same name
    routes = answers([line("ckdr1", 40)], created=[reply(lost=True)])
    routes["GetUserCreatedTasksPyApi"][1:2] = [user_task(export_task("IN_PROGRESS", name))]
    (found,), replay = poll(routes, listing)
    assert names(replay).count("exportDataRowsInProjectPyApi") == 1 and list(found.items or {}) == ["ckdr1"]


@pytest.mark.parametrize(
    ("status", "says"), [("FAILED", r"ended FAILED .* starts another"), ("CANCELED", "ended CANCELED")]
)
def test_an_export_that_does_not_complete_is_tried_again_at_the_next_poll(status: str, says: str):
    routes = answers([])
    routes["GetUserCreatedTasksPyApi"][2] = user_task(export_task(status))
    with pytest.raises(ApiError, match=says) as raised:
        poll(routes, checked().listing)
    assert is_transient(raised.value)


def test_an_export_still_running_after_the_pauses_is_left_for_the_next_poll_to_attach_to():
    routes = answers([])
    running = user_task(export_task("IN_PROGRESS"))
    routes["GetUserCreatedTasksPyApi"] = [user_task(), *[running] * (len(labels.EXPORT_PAUSES) + 1)]
    with pytest.raises(
        ApiError, match=r"still runs after 586 s; a later poll of its window attaches to it"
    ) as raised:
        poll(routes, checked().listing)
    assert is_transient(raised.value) and 540 < sum(labels.EXPORT_PAUSES) <= 600  # within the 15 min


def test_a_line_that_is_no_data_row_is_an_unexpected_answer():
    routes = answers([{"nothing": 1}])
    with pytest.raises(UnexpectedAnswerError, match="is not a data row"):
        poll(routes, checked().listing)


def change(items: dict[str, float], until: float, task_id: str = TASK) -> EndedRun:
    listing = checked().listing
    routes = answers([line(row, s) for row, s in items.items()])
    (found,), _ = poll(routes, listing)
    return found.model_copy(
        update={
            "ended_at": SINCE + timedelta(seconds=until),
            "ref": found.ref.model_copy(update={"run_id": task_id}),
        }
    )


def test_rows_fire_once_a_poll_each_once_and_again_only_when_their_time_moved_on():
    wanted = checked()
    first = start([change({"old": 10}, 100, "t1")], SINCE, wanted)
    assert (
        changes([change({"old": 10}, 100, "t1")], wanted, first).events == []
    )  # what was there at the start
    second = changes([change({"old": 10, "a": 150, "b": 160}, 400, "t2")], wanted, first)
    (event,) = second.events
    payload = event.to_event()
    assert payload["data_row_ids"] == ["a", "b"] and payload["data_row_count"] == 2
    assert (
        payload["export_id"] == TASK
        and payload["run_id"] == "t2"
        and payload["summary"].endswith(": 2 data rows")
    )
    assert "rows reached Done (last_activity_at 2026-03-01T12:00:00Z to " in payload["summary"]
    # the next window overlaps this one: a row read again is no event; one active again since is
    third = changes([change({"b": 160, "a": 380}, 700, "t3")], wanted, second.watermark)
    assert [e.items for e in third.events] == [{"a": SINCE + timedelta(seconds=380)}]
    # a window with no new row is no event, and still moves the watermark on
    quiet = changes([change({}, 1000, "t4")], wanted, third.watermark)
    assert quiet.events == [] and quiet.watermark.since > third.watermark.since


def test_an_event_of_many_rows_names_the_first_and_counts_them_all():
    many = {f"ckdr{i:04d}": SINCE + timedelta(seconds=i) for i in range(MAX_EVENT_ITEMS + 7)}
    run = change({}, 900).model_copy(update={"items": many})
    payload = run.to_event()
    assert payload["data_row_ids"] == sorted(many)[:MAX_EVENT_ITEMS]
    assert payload["data_row_count"] == MAX_EVENT_ITEMS + 7 and len(json.dumps(payload)) < 4096


def test_a_labels_watcher_polls_no_more_often_than_the_setting_says(monkeypatch):
    assert checked().min_poll_interval == labels.DEFAULT_MIN_POLL == 900
    monkeypatch.setenv("AIRFLOW__REMOTE_TASKS__COSTLY_WATCH_MIN_POLL_INTERVAL", "120")
    checked().check_poll_interval(120)
    with pytest.raises(
        ConfigurationError, match=r"use 120 s or more .*\[remote_tasks\] costly_watch_min_poll"
    ):
        checked().check_poll_interval(119)
    LabelboxPlatform.check_event_filter({"project_id": PROJECT, "watch": "exports"}).check_poll_interval(1)
    monkeypatch.setenv("AIRFLOW__REMOTE_TASKS__COSTLY_WATCH_MIN_POLL_INTERVAL", "soon")
    with pytest.raises(
        ConfigurationError, match=r"costly_watch_min_poll_interval must be a number of seconds"
    ):
        checked()
