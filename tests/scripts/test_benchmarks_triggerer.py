"""The real-triggerer mode of ``make bench``: its report arithmetic and the bench server's held runs (always), and
a run end to end at N=5 per provider in a real Airflow (only with REMOTE_TASKS_BENCH_TRIGGERER=1: it deploys
Airflow on PostgreSQL and takes minutes).

No timing is asserted: figures come from ``make bench`` and are compared within one run.
"""

from __future__ import annotations

import json
import math
import os

import pytest
from benchmarks import run, triggerer_report
from benchmarks.held import (
    DATABRICKS_SUBMIT,
    FLYTE_ACTION_DATA,
    FLYTE_CREATE_RUN,
    FLYTE_TASK_DETAILS,
    offset,
)
from benchmarks.server import DATABRICKS_PATH, FLYTE_LIST_PATH, BenchServer
from flyteidl2.task import task_service_pb2 as ts
from flyteidl2.workflow import run_service_pb2 as rs
from google.protobuf import json_format

from airflow_remote_tasks.core.phases import Phase
from airflow_remote_tasks.platforms.flyte.runs import parse_action_status


def row(provider: str, n: int, rss: float, cpu: float | None, blocked: int = 0) -> dict[str, object]:
    return {
        "provider": provider,
        "n": n,
        "rss_kb_per_task": rss,
        "cpu_ms_per_poll": cpu,
        "blocked_warnings_window": blocked,
        "blocked_warnings": blocked + 2,  # while tasks start and resume: not compared
    }


def test_ours_is_compared_with_the_better_anchor_figure_by_figure():
    rows = [
        row("ours", 100, 2.0, 0.1),
        row("databricks", 100, 30.0, 0.9, blocked=2),  # the better anchor for memory
        row("dbt", 100, 40.0, 0.6),  # the better anchor for CPU
        {"provider": "ours", "n": 300, "error": "3 task(s) failed"},
        row("databricks", 300, 30.0, 1.0),
    ]
    [compared] = triggerer_report.comparisons(rows)  # N=300 has no ours: not compared

    assert compared["n"] == 100
    assert compared["rss_kb_per_task"] == {"anchor": "databricks", "times_less": 15.0}
    assert compared["cpu_ms_per_poll"] == {"anchor": "dbt", "times_less": 6.0}
    assert compared["blocked_warnings"] == {"ours": 0, "anchors": {"databricks": 2, "dbt": 0}}
    lines = triggerer_report.targets([compared])
    assert lines == [
        "- met: triggerer N=100: added RSS per task, times less than databricks: 15x (target 3x)",
        "- met: triggerer N=100: CPU per poll, times less than dbt: 6x (target 3x)",
        "- met: triggerer N=100: loop-block warnings in the window: ours 0 (databricks 2)",
    ]


def test_a_missed_goal_says_by_how_much_and_a_figure_in_the_noise_has_no_ratio():
    rows = [row("ours", 5, 0.0, 0.5, blocked=1), row("databricks", 5, 10.0, 1.0), row("dbt", 5, 12.0, None)]
    [compared] = triggerer_report.comparisons(rows)

    assert compared["rss_kb_per_task"]["times_less"] is None  # ours added nothing measurable
    assert compared["cpu_ms_per_poll"] == {"anchor": "databricks", "times_less": 2.0}
    assert triggerer_report.targets([compared]) == [
        "- MISSED: triggerer N=5: added RSS per task, times less than databricks: n/a (target 3x)",
        "- MISSED by a factor 1.5: triggerer N=5: CPU per poll, times less than databricks: 2x (target 3x)",
        "- MISSED (the anchors have none): triggerer N=5: loop-block warnings in the window: ours 1 (none for the anchors)",
    ]


def test_the_triggerer_rows_go_into_the_report_beside_the_harness_rows(tmp_path):
    measured = {
        "provider": "ours",
        "n": 5,
        "completed": 5,
        "seconds_to_defer_all": 12.5,
        "idle_rss_mb": 210.0,
        "rss_kb_per_task": 3.1,
        "rss_peak_kb_per_task": 4.0,
        "cpu_ms_per_poll": 0.2,
        "polls_window": 15,
        "calls_window": 3,
        "connections_window": 0,
        "calls_total": 40,
        "connections_total": 12,
        "blocked_warnings_window": 0,
        "blocked_warnings": 1,
        "end_to_event_s": {"p50": 0.9, "p99": 1.8},
        "end_to_resume_s": {"p50": 1.5, "p99": 2.5},
        "drain_seconds": 6.0,
    }
    rows = [
        measured,
        {**measured, "provider": "dbt", "rss_kb_per_task": 31.0},
        {"provider": "databricks", "n": 5, "error": "boom"},
    ]
    report = {
        "started": "now",
        "machine": {"cpus": 2, "python": "3.11"},
        "waits": [],
        "triggerer": rows,
        "triggerer_setup": {"airflow": "3.3.0", "poll": 2.0, "window_polls": 3},
        "triggerer_comparisons": triggerer_report.comparisons(rows),
        "targets": [],
        "triggerer_targets": ["- met: something"],
    }
    text = run.markdown(report)

    assert (
        "| 5 | ours | 5 | 12.5 | 210.0 | 3.1/4.0 | 0.2 | 15 | 3 | 0 | 40/12 | 0/1 | 0.9/1.8 | 1.5/2.5 | 6.0 |"
        in text
    )
    assert "| 5 | databricks | error: boom |" in text
    assert "| 5 | 10.0x (dbt) | 1.0x (dbt) | 0; dbt 0 |" in text  # the window's warnings
    assert "Harness:" not in text  # the harness did not run: no empty tables
    assert text.index("Real triggerer") < text.index("Targets:") < text.index("- met: something")

    # the docs: the triggerer's block is rewritten, the harness's left as the last harness run wrote it
    docs = tmp_path / "benchmarks.md"
    harness, triggerer = run.DOCS_BLOCKS["harness"], run.DOCS_BLOCKS["triggerer"]
    docs.write_text(
        f"intro\n{harness[0]}\nold harness\n{harness[1]}\n{triggerer[0]}\nold\n{triggerer[1]}\nend\n"
    )
    run.update_docs(report, docs)
    written = docs.read_text()
    assert (
        "old harness" in written and "\nold\n" not in written and written.endswith(f"{triggerer[1]}\nend\n")
    )
    assert "| 5 | ours | 5 | 12.5 |" in written.split(triggerer[0])[1]


def test_held_runs_end_only_once_their_batch_is_released():
    server = BenchServer()
    submitted = json.dumps({"run_name": "databricks-5/3", "notebook_task": {"notebook_path": "/x"}}).encode()
    status, body = server.answer("POST", DATABRICKS_SUBMIT, submitted)
    run_id = json.loads(body)["run_id"]
    assert status == 200 and server.calls["databricks-submit"] == 1

    from airflow.providers.databricks.hooks.databricks import RunState

    def state() -> RunState:
        _, answer = server.answer("GET", DATABRICKS_PATH, json.dumps({"run_id": run_id}).encode())
        return RunState(**json.loads(answer)["state"])

    assert not state().is_terminal
    status, body = server.answer(
        "POST", "/_release", json.dumps({"batch": "other", "low": 0, "high": 0}).encode()
    )
    assert json.loads(body)["ends"] == {} and not state().is_terminal  # another batch's release
    status, body = server.answer(
        "POST", "/_release", json.dumps({"batch": "databricks-5", "low": 0, "high": 0}).encode()
    )
    released = json.loads(body)
    assert released["ends"] == {"3": released["released_at"]} and state().is_successful
    assert server.stats()["held"] == {"databricks-5": 1}


def test_ends_are_spread_over_the_window_asked_for():
    ends = [offset(index, 5.0, 20.0) for index in range(1000)]
    assert min(ends) >= 5.0 and max(ends) < 20.0
    assert abs(sorted(ends)[500] - 12.5) < 0.5  # even: the median is the window's middle
    assert max(ends[:10]) - min(ends[:10]) > 10.0  # the first tasks' runs do not all end first


def test_the_flyte_submit_routes_answer_as_flyte_does():
    server = BenchServer()
    task_id = {
        "org": "bench",
        "project": "flytesnacks",
        "domain": "development",
        "name": "demo.say_hello",
        "version": "v1",
    }
    _, body = server.answer("POST", FLYTE_TASK_DETAILS, json.dumps({"taskId": task_id}).encode())
    details = json_format.Parse(body, ts.GetTaskDetailsResponse())  # strict: unknown fields fail
    assert details.details.task_id.name == "demo.say_hello"

    run_id = {"org": "bench", "project": "flytesnacks", "domain": "development", "name": "rabc"}
    create = {"runId": run_id, "taskId": task_id, "runSpec": {"labels": {"values": {"bench": "ours-5/0"}}}}
    status, body = server.answer("POST", FLYTE_CREATE_RUN, json.dumps(create).encode())
    assert status == 200 and json_format.Parse(body, rs.CreateRunResponse()).run.action.id.name == "a0"
    unlabelled = {"runId": {**run_id, "name": "rdef"}, "taskId": task_id}
    assert server.answer("POST", FLYTE_CREATE_RUN, json.dumps(unlabelled).encode())[0] == 400

    listing = {"request": {"filters": [{"function": "VALUE_IN", "field": "run_name", "values": ["rabc"]}]}}

    def phase() -> Phase:
        _, answer = server.answer("POST", FLYTE_LIST_PATH, json.dumps(listing).encode())
        [listed] = json_format.MessageToDict(json_format.Parse(answer, rs.ListRunsResponse()))["runs"]
        return parse_action_status(listed["action"]).phase

    assert phase() is Phase.RUNNING and server.held.end("rabc") == math.inf
    server.held.release("ours-5", 0, 0)
    assert phase() is Phase.SUCCEEDED
    status, body = server.answer("POST", FLYTE_ACTION_DATA, b"{}")
    assert status == 200 and json.loads(body)["outputs"]["literals"][0]["name"] == "o0"


def test_the_dbt_trigger_route_holds_a_run():
    server = BenchServer()
    status, body = server.answer(
        "POST", "/api/v2/accounts/4242/jobs/4/run/", json.dumps({"cause": "dbt-5/2"}).encode()
    )
    run_id = json.loads(body)["data"]["id"]
    assert status == 200 and json.loads(body)["data"]["account_id"] == 4242
    _, body = server.answer("GET", f"/api/v2/accounts/4242/runs/{run_id}/", b"")
    assert json.loads(body)["data"]["in_progress"]
    server.held.release("dbt-5", 0, 0)
    _, body = server.answer("GET", f"/api/v2/accounts/4242/runs/{run_id}/", b"")
    assert json.loads(body)["data"]["status"] == 10  # dbt Cloud's "success"


@pytest.mark.cluster
@pytest.mark.timeout(1800)
@pytest.mark.skipif(
    os.environ.get("REMOTE_TASKS_BENCH_TRIGGERER") != "1",
    reason="deploys Airflow on PostgreSQL and takes minutes: set REMOTE_TASKS_BENCH_TRIGGERER=1 (make bench runs it for real)",
)
def test_triggerer_mode_runs_end_to_end(tmp_path):
    argv = ["--mode", "triggerer", "--triggerer-n", "5", "--triggerer-poll", "2", "--out", str(tmp_path)]
    report = run.main(argv)

    rows = {row["provider"]: row for row in report["triggerer"]}
    assert set(rows) == {"ours", "databricks", "dbt"}
    for provider, measured in rows.items():
        assert "error" not in measured, measured
        assert measured["completed"] == 5, provider
        assert measured["polls_window"] >= 5, provider  # every deferred task polled in the window
        # the event after its run ended (not before), and the task's end after that
        assert 0 < measured["end_to_event_s"]["p50"] <= measured["end_to_resume_s"]["p50"], provider
        assert measured["calls_total"] > measured["calls_window"], provider  # the submits came first
    for provider in ("databricks", "dbt"):  # one call per poll
        assert rows[provider]["calls_window"] == rows[provider]["polls_window"], rows[provider]
    [compared] = report["triggerer_comparisons"]
    assert compared["n"] == 5 and compared["cpu_ms_per_poll"]["anchor"] in ("databricks", "dbt")
    assert any("triggerer N=5" in line for line in report["triggerer_targets"])
    assert "Real triggerer" in (tmp_path / "report.md").read_text()
    assert json.loads((tmp_path / "report.json").read_text())["triggerer"] == report["triggerer"]


def test_a_stopped_runs_kept_rows_are_reported_without_measuring(tmp_path):
    kept = [
        {**row("ours", 100, 3.0, 0.5), "completed": 100},
        {**row("databricks", 100, 30.0, 10.0), "completed": 100},
    ]
    for measured in kept:
        measured.update(
            seconds_to_defer_all=60.0,
            idle_rss_mb=500.0,
            polls_window=300,
            calls_window=30,
            connections_window=0,
            calls_total=500,
            connections_total=200,
            end_to_event_s={"p50": 5.0, "p99": 9.0},
            end_to_resume_s={"p50": 20.0, "p99": 40.0},
            drain_seconds=50.0,
        )
    rows = tmp_path / "triggerer-rows.jsonl"
    rows.write_text("".join(json.dumps(measured) + "\n" for measured in kept))

    report = run.main(["--mode", "triggerer", "--triggerer-rows", str(rows), "--out", str(tmp_path / "out")])

    assert report["triggerer"] == kept and report["waits"] == []
    assert report["triggerer_targets"][:2] == [
        "- met: triggerer N=100: added RSS per task, times less than databricks: 10x (target 3x)",
        "- met: triggerer N=100: CPU per poll, times less than databricks: 20x (target 3x)",
    ]
    # rows kept before the peak was measured show none
    assert "| 100 | ours | 100 | 60.0 | 500.0 | 3.0/n/a |" in (tmp_path / "out" / "report.md").read_text()
