"""Avala's project tasks as asset watchers see them: the filter checked without a connection, and the edge "every
task of the project is in the status" read from the task listing over cursor pages (replayed answers, no
server): once per edge, never for a state that stays true, again when new tasks all get there."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs

import pytest
from test_avala_replay import API, avala

from airflow_remote_tasks.core.errors import ConfigurationError, NotFoundError, UnexpectedAnswerError
from airflow_remote_tasks.core.events import EndedRun, Watermark, changes, start
from airflow_remote_tasks.core.replay import Replay, reply
from airflow_remote_tasks.platforms.avala.platform import AvalaPlatform

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
TASKS = "/api/v1/tasks/"
CHECKED = AvalaPlatform.check_event_filter({"project": "proj-1", "watch": "tasks"})


def task(number: int, status: str, seconds: float) -> dict[str, object]:
    changed = (T0 + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {"uid": f"task-{number:03d}", "status": status, "project": "proj-1", "updated_at": changed}


def page(*tasks: dict[str, object], cursor: str = "") -> dict[str, object]:
    following = f"{API}/tasks/?cursor={cursor}&limit=100&project=proj-1" if cursor else None
    return {"results": list(tasks), "next": following, "previous": None}


def listed(*pages: dict[str, object], since: float = 0) -> tuple[list[EndedRun], Replay]:
    replay = Replay([reply(json=p) for p in pages])
    platform = avala()
    changed = replay.run(
        platform.ended_runs(CHECKED.listing, T0 + timedelta(seconds=since)), platform=platform
    )
    return changed, replay


def test_every_task_in_the_status_over_two_pages_is_one_change_at_the_last_ones_moment():
    changed, replay = listed(
        page(task(1, "completed", 10), task(2, "completed", 40), cursor="cD0y"),
        page(task(3, "completed", 25)),
    )
    queries = [parse_qs(r.url.query.decode()) for r in replay.requests]
    assert [r.url.path for r in replay.requests] == [TASKS, TASKS]
    assert queries[0] == {"project": ["proj-1"], "limit": ["100"]}  # every status: the edge needs them all
    assert queries[1]["cursor"] == ["cD0y"]
    (edge,) = changed
    event = edge.to_event()
    assert edge.ended_at == T0 + timedelta(seconds=40)
    assert event["project"] == "proj-1" and event["counts"] == {"tasks": 3, "completed": 3}
    assert event["summary"] == "every task of Avala project proj-1 (3) is completed, at 2026-03-01T12:00:40Z"
    assert event["ref"]["url"] == "https://app.avala.test/projects/proj-1"


def test_a_task_not_in_the_status_is_no_change_and_an_empty_project_is_looked_up():
    changed, _ = listed(page(task(1, "completed", 10), task(2, "active", 40)))
    assert changed == []
    empty, replay = listed(page(), {"uid": "proj-1"})
    assert empty == [] and replay.requests[-1].url.path == "/api/v1/users/me/projects/proj-1/"
    missing = Replay([reply(json=page()), reply(status=404, json={"detail": "Not found."})])
    with pytest.raises(NotFoundError, match=r"No Avala project 'proj-1' \(the event filter's 'project'\)"):
        missing.run(avala().ended_runs(CHECKED.listing, T0))


def test_the_edge_fires_once_not_while_it_stays_and_again_when_new_tasks_all_get_there():
    watermark = start([], T0, CHECKED)  # the watcher began with some task not done
    done, _ = listed(page(task(1, "completed", 10), task(2, "completed", 40)))
    first = changes(done, CHECKED, watermark)
    assert len(first.events) == 1
    again, _ = listed(page(task(1, "completed", 10), task(2, "completed", 40)))
    assert changes(again, CHECKED, first.watermark).events == []  # the state stays: no event
    # a new task arrives (the project is not done), then it is done too: a new edge
    assert listed(page(task(1, "completed", 10), task(2, "completed", 40), task(3, "pending", 50)))[0] == []
    more, _ = listed(page(task(1, "completed", 10), task(2, "completed", 40), task(3, "completed", 90)))
    second = changes(more, CHECKED, first.watermark)
    assert len(second.events) == 1 and second.events[0].ref.run_id != first.events[0].ref.run_id


def test_a_restart_from_a_stored_watermark_fires_the_edge_reached_while_down_and_not_an_older_one():
    stored = Watermark.model_validate_json(start([], T0 + timedelta(seconds=30), CHECKED).model_dump_json())
    reached_while_down, _ = listed(page(task(1, "completed", 10), task(2, "completed", 40)), since=30)
    assert len(changes(reached_while_down, CHECKED, stored).events) == 1
    # done before the watcher started: its starting point, no event (the listing does not show it)
    before, _ = listed(page(task(1, "completed", 10), task(2, "completed", 20)), since=30)
    assert before == [] and changes(before, CHECKED, stored).events == []


def test_a_task_without_a_time_is_an_unexpected_answer():
    with pytest.raises(UnexpectedAnswerError, match=r"Avala task 'task-001' updated_at None is not"):
        listed(page({"uid": "task-001", "status": "completed"}))


@pytest.mark.parametrize(
    ("event_filter", "says"),
    [
        ({"watch": "tasks"}, r"needs 'project', the project's uid .* not None"),
        ({"project": "a/b", "watch": "tasks"}, r"needs 'project'.* not 'a/b'"),
        ({"project": "proj-1", "watch": "exports"}, r"Avala's API lists no exports .* RemoteRunSensor"),
        ({"project": "proj-1", "watch": "labels"}, r"'watch' is 'tasks' .* not 'labels'"),
        ({"project": "proj-1", "watch": "tasks", "status": ""}, r"'status' is the task status .* not ''"),
        ({"project": "proj-1", "watch": "tasks", "phases": ["failed"]}, r"take project, watch, status"),
    ],
)
def test_filters_are_refused_naming_the_fix(event_filter: dict[str, object], says: str):
    with pytest.raises(ConfigurationError, match=says):
        AvalaPlatform.check_event_filter(event_filter)


def test_the_listing_is_the_projects_and_status_so_watchers_of_one_project_share_it():
    other = AvalaPlatform.check_event_filter({"project": " proj-1 ", "watch": "tasks", "status": "completed"})
    assert other.listing == CHECKED.listing == {"project": "proj-1", "watch": "tasks", "status": "completed"}
