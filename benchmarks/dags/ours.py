"""N deferrable RemoteTaskOperator tasks (mapped) on the bench server's Flyte routes."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag
from common import POLL_SECONDS, WAIT_LIMIT_SECONDS, tags

from airflow_remote_tasks.operators.remote_task import RemoteTaskOperator


@dag(dag_id="bench_ours", schedule=None, start_date=datetime(2026, 1, 1), catchup=False)
def bench_ours() -> None:
    RemoteTaskOperator.partial(
        task_id="wait",
        conn_id="bench_ours",
        task="demo.say_hello",
        version="v1",  # the one deployed version: no ListTasks call to find the latest
        inputs={"name": "bench"},
        deferrable=True,
        poll_interval=POLL_SECONDS,
        timeout=WAIT_LIMIT_SECONDS,
    ).expand(labels=tags(label="bench"))


bench_ours()
