"""N deferrable DbtCloudRunJobOperator tasks (mapped) on the bench server's dbt Cloud routes."""

from __future__ import annotations

from datetime import datetime

from airflow.providers.dbt.cloud.operators.dbt import DbtCloudRunJobOperator
from airflow.sdk import dag
from common import POLL_SECONDS, WAIT_LIMIT_SECONDS, tags

ACCOUNT = 4242  # benchmarks.waits.ACCOUNT: the account the bench server's dbt Cloud bodies name
JOB = 4


@dag(dag_id="bench_dbt", schedule=None, start_date=datetime(2026, 1, 1), catchup=False)
def bench_dbt() -> None:
    DbtCloudRunJobOperator.partial(
        task_id="wait",
        dbt_cloud_conn_id="bench_dbt",
        account_id=ACCOUNT,
        job_id=JOB,
        deferrable=True,
        check_interval=int(POLL_SECONDS),
        timeout=WAIT_LIMIT_SECONDS,
    ).expand(trigger_reason=tags())


bench_dbt()
