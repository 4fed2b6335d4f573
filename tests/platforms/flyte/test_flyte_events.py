"""Flyte runs that end, as asset watchers see them: the filter checked without a connection, ListRuns of the
ended runs since a moment, and the watermark that makes each end one event (replayed answers, no server)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from test_flyte_replay import connect_error, path, platform

from airflow_remote_tasks.core.errors import ConfigurationError, NotFoundError, UnexpectedAnswerError
from airflow_remote_tasks.core.events import LAG, caught_up, changes, next_since, start
from airflow_remote_tasks.core.phases import Phase
from airflow_remote_tasks.core.replay import Replay, Reply, reply
from airflow_remote_tasks.platforms.flyte.platform import FlytePlatform

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


def at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


def ended(name: str, seconds: float, phase: str = "ACTION_PHASE_SUCCEEDED", task: str = "ml.train") -> dict:
    return {
        "action": {
            "id": {"run": {"name": name}, "name": "a0"},
            "metadata": {"task": {"id": {"name": task, "version": "v1"}}},
            "status": {"phase": phase, "endTime": at(seconds), "attempts": 1},
        }
    }


def listed(*runs: dict[str, Any], token: str = "") -> Reply:
    return reply(json={"runs": list(runs), **({"token": token} if token else {})})


PROJECT = reply(json={"project": {"id": "ml", "domains": [{"id": "development"}]}})


def listing(flyte: FlytePlatform, *answers: Reply, since: float = 0, event_filter: dict | None = None):
    """The checked filter, its listing's ended runs from ``since``, and the replay: ListRuns answered in
    order, the project lookup (before a platform object's first listing) by ``PROJECT``."""
    checked = FlytePlatform.check_event_filter(event_filter or {"task_name": "ml.train"})
    queue = list(answers)
    replay = Replay(lambda request: PROJECT if path(request).endswith("/GetProject") else queue.pop(0))
    runs = replay.run(flyte.ended_runs(checked.listing, T0 + timedelta(seconds=since)))
    replay.requests[:] = [r for r in replay.requests if not path(r).endswith("/GetProject")]
    return checked, runs, replay


def test_the_listing_asks_for_ended_phases_since_the_moment_and_reads_every_page():
    flyte = platform()
    checked, runs, replay = listing(
        flyte,
        listed(ended("r-a", 5), token="200"),
        listed(ended("r-b", 9, "ACTION_PHASE_FAILED", task="ml.other")),
        since=3,
        event_filter={"task_name": "ml.train", "labels": {"team": "ml"}, "phases": ["failed", "succeeded"]},
    )
    first, second = replay.bodies
    assert first["projectId"] == {"organization": "acme", "name": "ml", "domain": "development"}
    assert first["request"]["filters"] == [
        # SUCCEEDED, FAILED, ABORTED, TIMED_OUT, RECOVERED: enum numbers, as the SDK sends them
        {"function": "VALUE_IN", "field": "phase", "values": ["5", "6", "7", "8", "10"]},
        {"function": "GREATER_THAN_OR_EQUAL", "field": "ended_at", "values": ["2026-03-01T12:00:03Z"]},
        {"function": "EQUAL", "field": "labels.team", "values": ["ml"]},
    ]
    assert "token" not in first["request"] and second["request"]["token"] == "200"
    assert [(r.ref.run_id, r.task, r.status.phase, r.ended_at) for r in runs] == [
        ("r-a", "ml.train", Phase.SUCCEEDED, T0 + timedelta(seconds=5)),
        ("r-b", "ml.other", Phase.FAILED, T0 + timedelta(seconds=9)),
    ]
    assert runs[0].ref.scope["project"] == "ml" and runs[0].ref.url.endswith("/r-a")
    # the listing is the project's and labels': the task and the phases are picked out by each watcher
    assert checked.listing == {"project": "", "domain": "", "labels": {"team": "ml"}}
    assert [r.ref.run_id for r in runs if checked.wants(r)] == ["r-a"]
    other_failed = FlytePlatform.check_event_filter({"task_name": "ml.other", "phases": ["failed"]})
    assert [r.ref.run_id for r in runs if other_failed.wants(r)] == ["r-b"]
    other_succeeded = FlytePlatform.check_event_filter({"task_name": "ml.other"})  # the default: succeeded
    assert [r.ref.run_id for r in runs if other_succeeded.wants(r)] == []


def test_a_watcher_fires_once_per_end_from_its_first_listing_on():
    flyte = platform()
    wanted = FlytePlatform.check_event_filter({"task_name": "ml.train"})
    _, before, _ = listing(flyte, listed(ended("old", 1)))
    watermark = start(before, T0, wanted)
    assert watermark.fired == {"old": T0 + timedelta(seconds=1)}  # it had ended: the starting point, no event

    _, runs, _ = listing(flyte, listed(ended("new", 30), ended("old", 1), ended("other", 31, task="ml.x")))
    found = changes(runs, wanted, watermark)
    assert [r.ref.run_id for r in found.events] == ["new"]
    assert found.events[0].to_event()["summary"] == "ml.train run new succeeded at 2026-03-01T12:00:30Z"
    again = changes(runs, wanted, found.watermark)  # the same runs listed at the next poll
    assert again.events == [] and again.watermark == found.watermark
    # Without the ids kept, the next listing would fire "new" (and "old") again:
    forgetful = found.watermark.model_copy(update={"fired": {}})
    assert [r.ref.run_id for r in changes(runs, wanted, forgetful).events] == ["old", "new"]


def test_since_trails_the_newest_end_and_keeps_only_the_ids_it_still_lists():
    flyte = platform()
    wanted = FlytePlatform.check_event_filter({"task_name": "ml.train"})
    late = LAG.total_seconds() + 100
    _, runs, _ = listing(flyte, listed(ended("a", 10), ended("b", late)))
    found = changes(runs, wanted, start([], T0, wanted))
    assert found.watermark.since == T0 + timedelta(seconds=100)  # LAG before the newest end, never back
    assert set(found.watermark.fired) == {"b"}  # "a" ended before since: never listed again
    assert next_since(found.watermark.since, []) == found.watermark.since
    # An end recorded late, within LAG of the newest, is still an event:
    _, later, _ = listing(flyte, listed(ended("c", late - 60), ended("b", late)))
    assert [r.ref.run_id for r in changes(later, wanted, found.watermark).events] == ["c"]


def test_a_watcher_that_listed_its_gap_alone_reads_the_shared_listings_from_then_on():
    """A watcher restored an hour behind a quiet project lists the gap alone once; its since then joins the
    shared listing's, which starts later (else it would list alone, from an ever older moment, until a run
    ends), and what it fired is still known."""
    flyte = platform()
    wanted = FlytePlatform.check_event_filter({"task_name": "ml.train"})
    shared_since = T0 + timedelta(hours=1)
    _, gap, _ = listing(flyte, listed(ended("missed", 30)))
    found = changes(gap, wanted, start([], T0, wanted))
    assert [r.ref.run_id for r in found.events] == ["missed"]
    assert found.watermark.since < shared_since  # the trailing since alone stays behind
    joined = caught_up(found.watermark, shared_since)
    assert joined.since == shared_since
    assert caught_up(joined, T0) == joined  # never back
    # An end at the shared listing's start that fired in the gap does not fire again:
    at_start = found.watermark.model_copy(update={"fired": {"missed": shared_since}})
    assert caught_up(at_start, shared_since).fired == {"missed": shared_since}


@pytest.mark.parametrize(
    ("event_filter", "says"),
    [
        ({}, r"needs 'task_name', the task's full name such as 'my_env.train'.*not None"),
        (
            {"task_name": "train"},
            r"such as 'my_env.train' \(its environment, a dot, its function\), not 'train'",
        ),
        (
            {"task_name": "ml.train", "phases": ["running"]},
            r"running is not an end\. Use phases among: aborted",
        ),
        ({"task_name": "ml.train", "phases": ["done"]}, r"Unknown phase 'done'; use one of"),
        ({"task_name": "ml.train", "labels": {"team": 1}}, r"'labels' must map label names to strings"),
        ({"task_name": "ml.train", "task": "x"}, r"Flyte event filters take task_name, labels, phases"),
    ],
)
def test_a_bad_filter_is_refused_naming_the_fix(event_filter, says):
    with pytest.raises(ConfigurationError, match=says):
        FlytePlatform.check_event_filter(event_filter)


def test_a_server_that_does_not_filter_by_label_says_to_watch_by_task_name_alone():
    refused = connect_error("invalid_argument", "invalid filter field labels.team")
    with pytest.raises(ConfigurationError, match="Watch the runs by 'task_name' alone"):
        listing(platform(), refused, event_filter={"task_name": "ml.train", "labels": {"team": "ml"}})


def test_a_run_listed_unended_is_left_out_and_an_unreadable_end_is_named():
    running = {"action": {"id": {"run": {"name": "r-x"}}, "status": {"phase": "ACTION_PHASE_RUNNING"}}}
    assert listing(platform(), listed(running))[1] == []
    broken = ended("r-y", 1)
    broken["action"]["status"]["endTime"] = "yesterday"
    with pytest.raises(UnexpectedAnswerError, match="Flyte run 'r-y' has an endTime 'yesterday'"):
        listing(platform(), listed(broken))


def test_an_unknown_project_is_named_not_watched_as_one_without_runs():
    checked = FlytePlatform.check_event_filter({"task_name": "ml.train", "project": "nope"})
    replay = Replay([connect_error("not_found", status=404)])
    with pytest.raises(NotFoundError, match=r"no Flyte project 'nope' \(the selector's 'project'\)"):
        replay.run(platform().ended_runs(checked.listing, T0))
    assert [path(r) for r in replay.requests] == ["/flyteidl2.project.ProjectService/GetProject"]
