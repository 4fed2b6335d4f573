"""Sensors with static run ids start in the triggerer of a real Airflow: the scheduler defers them with no
worker process, the triggerer finds their runs, and a worker runs only their ``execute_complete``. A templated
one still defers from a worker.

Worker processes are counted in the scheduler's log: the LocalExecutor reports one event ("Received executor
event with state ...") per workload it ran, and each workload is one task process (``airflow worker -- ...``).
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections import Counter
from typing import Any

import pytest

from support import CLUSTER_DAGS, cluster_api_key, start_run

sys.path.insert(0, str(CLUSTER_DAGS))
from sensors_from_trigger import MEASURED_SENSORS, STATIC_SENSORS, static_run_id

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(900)]

# A task process's end, as a scheduler logs it (Celery also reports a task queued: not a process that ran).
EVENT = re.compile(
    r"Received executor event with state (?!queued\b|running\b)\w+ for task instance TaskInstanceKey\((.*?)\)"
)


def worker_processes(airflow: Any, dag_id: str, run_id: str) -> Counter[str]:
    """How many task processes the executor ran for each task of one DAG run, from the schedulers' logs (on
    Celery each scheduler hears of the tasks it sent)."""
    text = "\n".join(log.read_text(errors="replace") for log in sorted(airflow.logs.glob("scheduler*.log")))
    counted: Counter[str] = Counter()
    for key in EVENT.findall(text):
        if f"dag_id='{dag_id}'" in key and f"run_id='{run_id}'" in key:
            counted[re.search(r"task_id='([^']+)'", key).group(1)] += 1  # type: ignore[union-attr]
    return counted


def settled(airflow: Any, dag_id: str, run_id: str, expected: dict[str, int]) -> Counter[str]:
    """The worker processes of the run once they are ``expected``, or after 60 s: the executor's event of a
    task comes after the task set its state, so the last ones may lag the DAG run's end."""
    give_up = time.monotonic() + 60
    while (seen := worker_processes(airflow, dag_id, run_id)) != expected and time.monotonic() < give_up:
        time.sleep(0.5)
    return seen


@pytest.fixture
def runs(flyte_emulator, monkeypatch):
    """Start Flyte runs on the cluster's emulator through the hook, as anything outside Airflow would; the runs
    last an hour, and ``finish`` ends those still going."""
    emulator, url = flyte_emulator
    monkeypatch.setenv(
        "AIRFLOW_CONN_FLYTE_DEFAULT",
        json.dumps({"conn_type": "remote_tasks_flyte", "password": cluster_api_key(url)}),
    )

    class Started:
        def __init__(self) -> None:
            self.names: list[str] = []

        def start(self, key: str, seconds: float) -> str:
            _, ref = start_run("demo.sleep", {"seconds": seconds}, key)
            self.names.append(ref.run_id)
            return str(ref.run_id)

        def finish(self) -> None:
            with emulator.state.lock:
                mine = [r for r in emulator.state.runs.values() if r.name in self.names]
            now = time.time()
            for run in mine:
                if not run.is_terminal(now):
                    run.run_seconds = max(0.0, now - run.created - run.queue_seconds)

    return Started()


def all_deferred(airflow: Any, dag_id: str, run_id: str, task_ids: set[str], seconds: float) -> None:
    def deferred() -> bool:
        states = {ti["task_id"]: ti["state"] for ti in airflow.task_instances(dag_id, run_id, limit=1000)}
        return all(states.get(task_id) == "deferred" for task_id in task_ids)

    airflow.wait_until(deferred, seconds, f"{len(task_ids)} sensors deferred", every=0.5)


def test_static_sensors_start_in_the_triggerer_and_a_templated_one_in_a_worker(airflow, runs, capsys):
    dag_id = "c_sensors_from_trigger"
    static = {f"wait_{n}": runs.start(f"{dag_id}-{n}", 3600 + n) for n in range(STATIC_SENSORS)}
    assert set(static.values()) == {static_run_id(dag_id, n) for n in range(STATIC_SENSORS)}
    templated = runs.start(f"{dag_id}-templated", 7200)
    started = time.monotonic()
    run_id = airflow.trigger(dag_id, {"templated": templated})
    all_deferred(airflow, dag_id, run_id, {*static, "templated"}, 240)
    deferred_after = time.monotonic() - started
    # The templated one's worker rendered its run id and deferred it (its process ends just after).
    airflow.wait_until(
        lambda: worker_processes(airflow, dag_id, run_id)["templated"] == 1,
        60,
        "the templated sensor's worker",
    )
    before = worker_processes(airflow, dag_id, run_id)
    # Deferred by the scheduler itself: no worker process for any static sensor.
    assert not any(before[task_id] for task_id in static)
    runs.finish()
    assert airflow.wait_for_run(dag_id, run_id, 240) == "success"
    # The executor's event of a task comes after the task set its state: the last ones may lag the run's.
    expected_processes = dict.fromkeys(static, 1) | {
        "templated": 2,
        "outputs": 1,
    }  # one execute_complete each
    after = settled(airflow, dag_id, run_id, expected_processes)
    assert after == expected_processes
    expected = {name: 3600 + n for n, name in enumerate(static.values())} | {templated: 7200}
    assert airflow.xcom(dag_id, run_id, "outputs") == {name: float(v) for name, v in expected.items()}
    first = airflow.xcom(dag_id, run_id, "wait_0")
    assert first["run_id"] == static["wait_0"] and first["phase"] == "succeeded"
    # the link, published by execute_complete from the event's run
    assert (
        airflow.xcom(dag_id, run_id, "wait_0", "run_url") == first["url"] and static["wait_0"] in first["url"]
    )
    links = airflow.api("GET", f"dags/{dag_id}/dagRuns/{run_id}/taskInstances/wait_0/links")
    assert links["extra_links"] == {"Remote run": first["url"]}
    with capsys.disabled():
        print(
            f"\n{STATIC_SENSORS} static sensors and a templated one all deferred {deferred_after:.1f} s after "
            f"the trigger; worker processes: {sum(after[t] for t in static)} for the static sensors (one "
            f"execute_complete each), {after['templated']} for the templated one"
        )


@pytest.mark.skipif(
    not os.environ.get("REMOTE_TASKS_MEASURE_SENSORS"),
    reason="a measurement (set REMOTE_TASKS_MEASURE_SENSORS=1): two DAG runs of 100 sensors",
)
def test_worker_processes_per_hundred_sensors(airflow, runs, capsys):
    """The same 100 static sensors started in the triggerer, then by workers that defer them (as before)."""
    names = [runs.start(f"c_sensors_measured-{n}", 3600) for n in range(MEASURED_SENSORS)]
    assert names == [static_run_id("c_sensors_measured", n) for n in range(MEASURED_SENSORS)]
    tasks = {f"wait_{n}" for n in range(MEASURED_SENSORS)}
    measured = {}
    for dag_id in ("c_sensors_measured_triggerer", "c_sensors_measured_worker"):
        started = time.monotonic()
        run_id = airflow.trigger(dag_id)
        all_deferred(airflow, dag_id, run_id, tasks, 600)
        deferred = time.monotonic() - started
        at_deferral = sum(worker_processes(airflow, dag_id, run_id).values())
        measured[dag_id] = (deferred, at_deferral, run_id)
    runs.finish()
    lines = []
    for dag_id, (deferred, at_deferral, run_id) in measured.items():
        assert airflow.wait_for_run(dag_id, run_id, 600) == "success"
        each = 1 if dag_id.endswith("triggerer") else 2  # the resume; before, the start too
        total = sum(settled(airflow, dag_id, run_id, dict.fromkeys(tasks, each)).values())
        lines.append(
            f"{dag_id}: all {MEASURED_SENSORS} deferred {deferred:.0f} s after the trigger, {at_deferral} worker "
            f"processes by then, {total} in all"
        )
    with capsys.disabled():
        print("\n" + "\n".join(lines))
