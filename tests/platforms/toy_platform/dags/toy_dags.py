"""The toy's DAG: one remote task; its outputs reach XCom."""

from __future__ import annotations

from datetime import datetime, timezone

from airflow.sdk import DAG

from airflow_remote_tasks import RemoteTaskOperator

with DAG("toy_dag", schedule=None, start_date=datetime(2025, 1, 1, tzinfo=timezone.utc)) as dag:
    RemoteTaskOperator(task_id="shout", conn_id="toy_default", task="shout", inputs={"text": "hi"})
