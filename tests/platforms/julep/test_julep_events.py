"""Julep executions that end, as asset watchers see them: the filter checked without a connection, and a task's
executions read newest change first until one changed before the moment asked (replayed answers, no server)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs

import pytest
from test_julep_replay import EXECUTIONS, TASK, julep, page

from airflow_remote_tasks.core.errors import ConfigurationError, NotFoundError
from airflow_remote_tasks.core.events import changes, start
from airflow_remote_tasks.core.phases import Phase
from airflow_remote_tasks.core.replay import Replay, reply
from airflow_remote_tasks.platforms.julep.platform import JulepPlatform
from airflow_remote_tasks.platforms.julep.rest import PAGE_SIZE

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


def execution(number: int, status: str, seconds: float) -> dict[str, object]:
    stamp = (T0 + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {
        "id": f"00000000-0000-4000-8000-{number:012d}",
        "task_id": TASK,
        "status": status,
        "updated_at": stamp,
    }


def ended_runs(*pages: dict[str, object], since: float = 0):
    checked = JulepPlatform.check_event_filter({"task_id": TASK.upper(), "phases": ["succeeded", "failed"]})
    replay = Replay([reply(json=p) for p in pages])
    return checked, replay.run(julep().ended_runs(checked.listing, T0 + timedelta(seconds=since))), replay


def test_executions_are_read_newest_change_first_until_one_changed_before_the_moment():
    full = page(*(execution(n, "succeeded", 100 - n * 0.01) for n in range(PAGE_SIZE)))
    second = page(execution(900, "running", 50), execution(901, "failed", 40), execution(902, "succeeded", 9))
    checked, runs, replay = ended_runs(full, second, since=10)
    queries = [parse_qs(r.url.query.decode()) for r in replay.requests]
    assert [r.url.path for r in replay.requests] == [EXECUTIONS, EXECUTIONS]
    assert queries[0]["sort_by"] == ["updated_at"] and queries[0]["direction"] == ["desc"]
    assert queries[1]["offset"] == [str(PAGE_SIZE)]
    # the running one is no end; the one that changed before the moment ends the reading
    assert len(runs) == PAGE_SIZE + 1 and runs[-1].status.phase is Phase.FAILED
    assert (
        runs[-1].ref.run_id.endswith("901")
        and runs[-1].task == TASK
        and runs[-1].ref.scope == {"task_id": TASK}
    )
    assert checked.listing == {"task_id": TASK}  # the id as Julep writes it, whatever case it was given in


def test_a_short_page_ends_the_reading_and_each_end_fires_once():
    checked, runs, replay = ended_runs(page(execution(1, "succeeded", 30), execution(2, "cancelled", 20)))
    assert len(replay.requests) == 1
    watermark = start([], T0, checked)
    found = changes(runs, checked, watermark)
    assert [r.ref.run_id[-1] for r in found.events] == ["1"]  # cancelled is not among the filter's phases
    assert changes(runs, checked, found.watermark).events == []


def test_an_unknown_task_names_the_filters_field():
    checked = JulepPlatform.check_event_filter({"task_id": TASK})
    missing = reply(status=404, json={"detail": "Task not found"})
    with pytest.raises(
        NotFoundError, match=f"No Julep task with id '{TASK}' at .*fix the event filter's 'task_id'"
    ):
        Replay([missing]).run(julep().ended_runs(checked.listing, T0))


@pytest.mark.parametrize(
    ("event_filter", "says"),
    [
        ({"task_id": "summarize"}, r"needs 'task_id', the task's UUID .* not 'summarize'"),
        ({"task_id": TASK, "phases": ["awaiting_input"]}, r"Unknown phase 'awaiting_input'"),
        ({"task_id": TASK, "phases": ["paused"]}, r"paused is not an end"),
        ({"task": TASK}, r"Julep event filters take task_id, phases; 'task' is not one of them"),
    ],
)
def test_a_bad_filter_is_refused_naming_the_fix(event_filter, says):
    with pytest.raises(ConfigurationError, match=says):
        JulepPlatform.check_event_filter(event_filter)
