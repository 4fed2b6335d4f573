"""DAGs whose tasks outlive their execution_timeout on a long ``demo.sleep`` run: run by the real Airflow of the
cluster tests (the deferred one) and by dag.test() (tests/airflow/test_execution_timeout.py)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG

from airflow_remote_tasks import RemoteTaskOperator

START = datetime(2026, 1, 1)


def sleeper(dag_id: str, seconds: int, **operator: Any) -> DAG:
    """A DAG of one RemoteTaskOperator ("remote") running ``demo.sleep`` for ``params.seconds``."""
    with DAG(dag_id, start_date=START, schedule=None, catchup=False, params={"seconds": seconds}) as dag:
        RemoteTaskOperator(
            task_id="remote",
            conn_id="flyte_default",
            task="demo.sleep",
            inputs={"seconds": "{{ params.seconds }}"},
            poll_interval=0.5,
            **operator,
        )
    return dag


DAGS = {
    # A timed-out try is retried as any failed try is; its run was aborted, so the retry starts a new one.
    "worker": sleeper(
        "c_execution_timeout_worker",
        60,
        execution_timeout=timedelta(seconds=2),
        deferrable=False,
        retries=1,
        retry_delay=timedelta(0),
    ),
    "deferred": sleeper(
        "c_execution_timeout_deferred",
        120,
        execution_timeout=timedelta(seconds=4),
        deferrable=True,
        retries=0,
    ),
}
