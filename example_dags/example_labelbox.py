"""Labelbox: export a project's finished labels to object storage, and read them downstream.

The export is streamed to ``output_path`` chunk by chunk (any ``ObjectStoragePath``: s3://, gs://, file://),
whatever its size; XCom holds only where it went and how many rows it has. Needs a connection
``labelbox_default`` of type ``remote_tasks_labelbox`` with an API key. To try it offline, start the emulator
(``remote-tasks emulator labelbox --port 8091``; it prints its URL and the ids of a seeded project and dataset)::

    AIRFLOW_CONN_LABELBOX_DEFAULT='{"conn_type": "remote_tasks_labelbox",
        "host": "http://127.0.0.1:8091/graphql", "password": "any-key"}'
"""

from __future__ import annotations

import json
import tempfile
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import ObjectStoragePath, dag, task

from airflow_remote_tasks import RemoteTaskOperator

# The emulator's seeded project; in real use, your project's id (the end of its URL in the app).
PROJECT = "ckproj0000000000000000001"
EXPORTS = f"file://{tempfile.gettempdir()}/airflow-labelbox-exports"


@dag(
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["remote-tasks", "labelbox"],
    params={"project": PROJECT, "exports": EXPORTS},
)
def example_labelbox() -> None:
    export = RemoteTaskOperator(
        task_id="export",
        conn_id="labelbox_default",
        task="export_project",
        inputs={
            "project_id": "{{ params.project }}",
            "filters": {"workflow_status": "Done"},  # only rows whose labelling is finished
            "params": {"label_details": True, "data_row_details": True},
        },
        output_path="{{ params.exports }}/{{ run_id | replace(':', '_') }}/labels.ndjson",
        deferrable=True,
        poll_interval=2,
        timeout=timedelta(hours=2),  # Labelbox cancels an export that outlives it
    )

    @task
    def count_labels(summary: dict[str, Any]) -> str:
        labelled = 0
        with ObjectStoragePath(summary["path"]).open("r") as rows:
            for line in rows:
                row = json.loads(line)
                labelled += sum(len(p.get("labels", [])) for p in row.get("projects", {}).values())
        return f"{summary['rows']} rows, {labelled} labels, {summary['bytes']} bytes at {summary['path']}"

    count_labels(export.output)


example_labelbox_dag = example_labelbox()
