"""N deferrable DatabricksSubmitRunOperator tasks (mapped) on the bench server's Databricks routes."""

from __future__ import annotations

from datetime import datetime

from airflow.providers.databricks.operators.databricks import DatabricksSubmitRunOperator
from airflow.sdk import dag
from common import POLL_SECONDS, WAIT_LIMIT_SECONDS, tags


@dag(dag_id="bench_databricks", schedule=None, start_date=datetime(2026, 1, 1), catchup=False)
def bench_databricks() -> None:
    DatabricksSubmitRunOperator.partial(
        task_id="wait",
        databricks_conn_id="bench_databricks",
        existing_cluster_id="0923-164208-meows279",
        notebook_task={"notebook_path": "/Repos/bench/etl"},
        timeout_seconds=WAIT_LIMIT_SECONDS,
        deferrable=True,
        polling_period_seconds=int(POLL_SECONDS),
    ).expand(run_name=tags())


bench_databricks()
