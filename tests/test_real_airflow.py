"""A real Airflow (API server, scheduler with LocalExecutor, DAG processor, triggerer) against the Flyte emulator.

Airflow starts once per test session (the ``airflow`` fixture in conftest); each test triggers DAG runs through
the REST API and reads their state from the API and the emulator. These carry the ``cluster`` marker.
"""

from __future__ import annotations

import os
import signal
import time

import httpx
import pytest

from airflow_remote_tasks.emulators.flyte import FlyteEmulator

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(900)]


class Runs:
    """The emulator's runs started since a point in time."""

    def __init__(self, emulator: FlyteEmulator) -> None:
        self.emulator = emulator
        self.before = {run["name"] for run in emulator.state.summary()}

    def new(self) -> list[dict[str, object]]:
        return [run for run in self.emulator.state.summary() if run["name"] not in self.before]


def test_example_dag_defers_resumes_and_hands_outputs_downstream(airflow, flyte_emulator):
    emulator, url = flyte_emulator
    runs = Runs(emulator)
    run_id = airflow.trigger("example_flyte", {"name": "Cluster"})
    seen = set()

    def finished() -> bool:
        seen.add(airflow.task_state("example_flyte", run_id, "hello"))
        return airflow.run_state("example_flyte", run_id) in ("success", "failed")

    airflow.wait_until(finished, 300, "example_flyte to finish", every=0.3)
    assert airflow.run_state("example_flyte", run_id) == "success"
    assert "deferred" in seen  # waited in the triggerer, then resumed on a worker
    assert airflow.xcom("example_flyte", run_id, "report") == (
        "greeting='Hello, Cluster! Hello, Cluster! Hello, Cluster!' mean=2.5 count=3"
    )
    hello = next(r for r in runs.new() if r["task"] == "demo.say_hello")
    expected = f"{url}/v2/domain/development/project/flytesnacks/runs/{hello['name']}"
    assert airflow.xcom("example_flyte", run_id, "hello", "run_url") == expected
    links = airflow.api("GET", f"dags/example_flyte/dagRuns/{run_id}/taskInstances/hello/links")
    assert links["extra_links"] == {"Remote run": expected}
    page = httpx.get(expected)  # what a person sees after clicking the link: the emulator's run page
    assert page.status_code == 200 and hello["name"] in page.text and "ACTION_PHASE_SUCCEEDED" in page.text
    assert len(runs.new()) == 2

    # A person clears the succeeded task: it runs again, as a new remote run.
    airflow.api(
        "POST",
        "dags/example_flyte/clearTaskInstances",
        json={"dag_run_id": run_id, "task_ids": ["hello"], "dry_run": False, "only_failed": False},
    )
    airflow.wait_until(
        lambda: (
            airflow.task_state("example_flyte", run_id, "hello") == "success"
            and len([r for r in runs.new() if r["task"] == "demo.say_hello"]) == 2
        ),
        300,
        "the cleared task to run again",
        every=1,
    )
    hellos = [r for r in runs.new() if r["task"] == "demo.say_hello"]
    assert all(r["phase"] == "ACTION_PHASE_SUCCEEDED" for r in hellos)


def test_triggerer_killed_while_tasks_are_deferred(airflow, flyte_emulator):
    emulator, _ = flyte_emulator
    runs = Runs(emulator)
    run_id = airflow.trigger("c_sleep_deferred", {"seconds": 25})
    tasks = [f"sleep_{n}" for n in range(3)]
    airflow.wait_until(
        lambda: all(airflow.task_state("c_sleep_deferred", run_id, t) == "deferred" for t in tasks),
        180,
        "all three tasks to defer",
    )
    airflow.kill("triggerer", signal.SIGKILL)
    time.sleep(3)
    airflow.start_component("triggerer")
    assert airflow.wait_for_run("c_sleep_deferred", run_id, 300) == "success"
    started = runs.new()
    assert len(started) == 3  # one remote run per task, none started twice
    assert all(run["phase"] == "ACTION_PHASE_SUCCEEDED" for run in started)


def test_marking_a_deferred_task_failed_aborts_its_run(airflow, flyte_emulator):
    emulator, _ = flyte_emulator
    runs = Runs(emulator)
    run_id = airflow.trigger("c_sleep_deferred", {"seconds": 120})
    # Airflow calls on_kill only for a trigger a triggerer is running: wait until one has picked it up.
    airflow.wait_until(
        lambda: (
            (ti := airflow.task_instance("c_sleep_deferred", run_id, "sleep_0")).get("state") == "deferred"
            and ti.get("triggerer_job")
        ),
        180,
        "a triggerer to run sleep_0's trigger",
    )
    time.sleep(3)
    killed = airflow.xcom("c_sleep_deferred", run_id, "sleep_0", "run_id")
    airflow.api(
        "PATCH",
        f"dags/c_sleep_deferred/dagRuns/{run_id}/taskInstances/sleep_0",
        json={"new_state": "failed"},
    )

    def phases() -> dict[str, object]:
        return {str(r["name"]): r["phase"] for r in runs.new()}

    airflow.wait_until(
        lambda: phases().get(killed) == "ACTION_PHASE_ABORTED", 60, "the trigger's on_kill to abort the run"
    )
    others = [phase for name, phase in phases().items() if name != killed]
    assert others and all(phase == "ACTION_PHASE_RUNNING" for phase in others)  # only the one marked failed
    # end the rest the same way, so nothing is left running for later tests
    airflow.api("PATCH", f"dags/c_sleep_deferred/dagRuns/{run_id}", json={"state": "failed"})


def test_killed_worker_is_retried_and_reattaches(airflow, flyte_emulator):
    emulator, _ = flyte_emulator
    runs = Runs(emulator)
    run_id = airflow.trigger("c_sleep_worker", {"seconds": 15})

    def waiting_in_a_worker() -> list[int]:
        ti = airflow.task_instance("c_sleep_worker", run_id, "sleep")
        return ti.get("state") == "running" and len(runs.new()) == 1 and airflow.task_processes(ti["id"])

    [pid] = airflow.wait_until(waiting_in_a_worker, 180, "the task to wait in a worker")
    os.kill(pid, signal.SIGKILL)  # the process running the wait dies with no chance to clean up
    assert airflow.wait_for_run("c_sleep_worker", run_id, 300) == "success"
    ti = airflow.task_instance("c_sleep_worker", run_id, "sleep")
    assert ti["try_number"] >= 2  # Airflow retried it...
    [run] = runs.new()  # ...and the retry reattached to the same remote run
    assert run["phase"] == "ACTION_PHASE_SUCCEEDED"


def test_marking_a_worker_task_failed_aborts_its_run(airflow, flyte_emulator):
    emulator, _ = flyte_emulator
    runs = Runs(emulator)
    run_id = airflow.trigger("c_sleep_worker", {"seconds": 120})
    airflow.wait_until(
        lambda: airflow.task_state("c_sleep_worker", run_id, "sleep") == "running" and runs.new(),
        180,
        "the task to wait in a worker",
    )
    airflow.api(
        "PATCH", f"dags/c_sleep_worker/dagRuns/{run_id}/taskInstances/sleep", json={"new_state": "failed"}
    )
    # the worker stops the task with SIGTERM, and the operator's on_kill aborts the run
    airflow.wait_until(
        lambda: runs.new()[0]["phase"] == "ACTION_PHASE_ABORTED", 90, "the worker's on_kill to abort the run"
    )


def test_two_hundred_mapped_tasks_deferred_at_once(airflow, flyte_emulator, capsys):
    emulator, _ = flyte_emulator
    runs = Runs(emulator)
    started = time.monotonic()
    run_id = airflow.trigger("c_mapped", {"count": 200})
    deferred_at_once = 0

    def finished() -> bool:
        nonlocal deferred_at_once
        deferred_at_once = max(deferred_at_once, airflow.count_tasks("c_mapped", run_id, "deferred"))
        return airflow.run_state("c_mapped", run_id) in ("success", "failed")

    airflow.wait_until(finished, 840, "200 mapped tasks to finish", every=2)
    wall = time.monotonic() - started
    assert airflow.run_state("c_mapped", run_id) == "success"
    retried = sum(ti["try_number"] > 1 for ti in airflow.task_instances("c_mapped", run_id, limit=1000))
    assert deferred_at_once == 200, "every remote task should have been waiting in the triggerer together"
    assert airflow.xcom("c_mapped", run_id, "total") == sum(120 + i % 5 for i in range(200))
    waits = [r for r in runs.new() if r["task"] == "demo.sleep"]
    assert len(waits) == 200 and all(r["phase"] == "ACTION_PHASE_SUCCEEDED" for r in waits)
    peak = airflow.peak_memory_kib("triggerer")
    with capsys.disabled():
        print(
            f"\n200 mapped deferred tasks: {wall:.0f} s wall time from trigger to success, at most "
            f"{deferred_at_once} deferred at once, triggerer peak memory {peak / 1024:.0f} MiB "
            f"(VmHWM of the triggerer and its runner); {retried} tasks retried by Airflow, reattached"
        )


def test_labelbox_export_deferred_through_the_triggerer(airflow, labelbox_emulator, tmp_path):
    emulator, _ = labelbox_emulator
    target = tmp_path / "export.ndjson"
    run_id = airflow.trigger("c_labelbox_export", {"out": f"file://{target}"})
    seen = set()

    def finished() -> bool:
        seen.add(airflow.task_state("c_labelbox_export", run_id, "export"))
        return airflow.run_state("c_labelbox_export", run_id) in ("success", "failed")

    airflow.wait_until(finished, 300, "the Labelbox export to finish", every=0.3)
    assert airflow.run_state("c_labelbox_export", run_id) == "success"
    assert "deferred" in seen
    summary = airflow.xcom("c_labelbox_export", run_id, "export")
    rows = len(emulator.state.rows_of("ckds000000000000000000001"))
    assert summary["rows"] == rows == target.read_text().count("\n")
    [task] = [t for t in emulator.state.summary() if t["id"] == summary["run_id"]]
    assert task["status"] == "COMPLETE"


def test_a_set_wait_deferred_through_the_triggerer(airflow, flyte_emulator):
    run_id = airflow.trigger("c_run_set")
    seen = set()

    def finished() -> bool:
        seen.add(airflow.task_state("c_run_set", run_id, "all_described"))
        return airflow.run_state("c_run_set", run_id) in ("success", "failed")

    airflow.wait_until(finished, 300, "the set wait to finish", every=0.3)
    assert airflow.run_state("c_run_set", run_id) == "success"
    assert "deferred" in seen
    summary = airflow.xcom("c_run_set", run_id, "all_described")
    assert summary["counts"] == {"succeeded": 2} and summary["total"] == 2


def test_no_secret_in_logs_or_metadata_database(airflow, flyte_emulator):
    """Runs last in this file: everything the tests above made Airflow write is searched for every form of
    the connection's key, the client secret inside it, the Basic credential built from that, and every
    token the emulator issued: task logs, the components' logs (scheduler.log...), and every table of the
    metadata database (XCom, rendered fields, trigger rows, task state store)."""
    import base64
    import sqlite3
    from urllib.parse import quote_plus

    from airflow_remote_tasks.core.secrets import derived_forms
    from conftest import CLUSTER_CLIENT_SECRET, LABELBOX_KEY, cluster_api_key

    emulator, url = flyte_emulator
    key = cluster_api_key(url)
    basic = base64.b64encode(f"airflow-cluster:{quote_plus(CLUSTER_CLIENT_SECRET)}".encode()).decode()
    secrets = [key + "\n", key, CLUSTER_CLIENT_SECRET, basic, LABELBOX_KEY, *emulator.tokens]
    assert emulator.tokens, "the DAGs above ran with OAuth2 tokens"
    texts: dict[str, str] = {}
    for path in airflow.logs.rglob("*"):
        if path.is_file():
            texts[str(path)] = path.read_text(errors="replace")
    assert any("scheduler" in name for name in texts) and any("dag_id=" in name for name in texts)
    with sqlite3.connect(airflow.home / "airflow.db") as db:
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            rows = db.execute(f'SELECT * FROM "{table}"').fetchall()
            texts[f"table {table}"] = "\n".join(repr(row) for row in rows)
    assert "remote_run" in texts["table task_state_store"]  # the tests' own rows are among those searched
    for where, text in texts.items():
        for secret in secrets:
            for form in derived_forms(secret):
                assert form not in text, f"a form of a secret ({len(form)} chars) is in {where}"
