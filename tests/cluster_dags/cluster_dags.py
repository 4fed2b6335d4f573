"""DAGs for the real-Airflow tests (scheduler, triggerer, workers), beside the Flyte example."""

from __future__ import annotations

import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, task

from airflow_remote_tasks import RemoteTaskOperator

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "example_dags"))
from example_flyte import example_flyte_dag  # noqa: F401  (the example, scheduled for real)

START = datetime(2026, 1, 1)
ARGS = {"retries": 0}

with DAG("c_sleep_deferred", start_date=START, schedule=None, catchup=False, params={"seconds": 20}) as dag:
    # Several deferred tasks at once, to kill the triggerer under them.
    for n in range(3):
        RemoteTaskOperator(
            task_id=f"sleep_{n}",
            conn_id="flyte_default",
            task="demo.sleep",
            inputs={"seconds": "{{ params.seconds }}"},
            deferrable=True,
            poll_interval=1,
        )

with DAG("c_sleep_worker", start_date=START, schedule=None, catchup=False, params={"seconds": 20}) as dag:
    RemoteTaskOperator(
        task_id="sleep",
        conn_id="flyte_default",
        task="demo.sleep",
        inputs={"seconds": "{{ params.seconds }}"},
        deferrable=False,
        poll_interval=1,
        retries=2,
        retry_delay=timedelta(seconds=1),
    )

with DAG(
    "c_mapped", start_date=START, schedule=None, catchup=False, params={"count": 200, "seconds": 120}
) as dag:
    # Each remote run lasts long enough for all of them to be deferred at once. A trigger that fires soon after deferral can
    # lose a race inside Airflow's scheduler (a stale executor event fails the task: apache/airflow#71580,
    # #72716); the retry then reattaches to the same remote run, so no run is started twice.

    @task
    def durations(count: int, seconds: int) -> list[dict[str, Any]]:
        return [{"seconds": int(seconds) + i % 5} for i in range(int(count))]

    wait = RemoteTaskOperator.partial(
        task_id="wait",
        conn_id="flyte_default",
        task="demo.sleep",
        deferrable=True,
        poll_interval=2,
        retries=2,
        retry_delay=timedelta(seconds=1),
    ).expand(inputs=durations("{{ params.count }}", "{{ params.seconds }}"))

    @task
    def total(slept: list[float]) -> float:
        return sum(slept)

    total(wait.output)


with DAG("c_labelbox_export", start_date=START, schedule=None, catchup=False, params={"out": ""}) as dag:
    # A Labelbox export waited on in the triggerer, then streamed to storage by the resumed task. Retried as
    # c_mapped's tasks are, for the same race in Airflow's scheduler (seen here on a loaded machine).
    RemoteTaskOperator(
        task_id="export",
        conn_id="labelbox_default",
        task="export_project",
        inputs={"project_id": "ckproj0000000000000000001", "params": {"label_details": True}},
        output_path="{{ params.out }}",
        deferrable=True,
        poll_interval=1,
        retries=2,
        retry_delay=timedelta(seconds=1),
    )


with DAG("c_run_set", start_date=START, schedule=None, catchup=False) as dag:
    # Two runs started by this DAG, and a deferred wait on the set that the task name selects.
    from airflow_remote_tasks import RemoteRunsSensor

    for n in range(2):
        RemoteTaskOperator(
            task_id=f"describe_{n}",
            conn_id="flyte_default",
            task="demo.describe",
            inputs={"config": {"n": n}},
            deferrable=True,
            poll_interval=1,
        )
    RemoteRunsSensor(
        task_id="all_described",
        conn_id="flyte_default",
        select={"task_name": "demo.describe"},
        min_count=2,
        poke_interval=1,
        deferrable=True,
    )
