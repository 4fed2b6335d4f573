"""Labelbox: add images to a dataset, give labellers model predictions to start from, then export the project's
finished labels to object storage and read them downstream.

Rows are upserted by global key, so a rerun updates them instead of adding copies. The export is streamed to
``output_path`` chunk by chunk (any ``ObjectStoragePath``: s3://, gs://, file://), whatever its size; XCom
holds only where it went and how many rows it has. Needs a connection
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
DATASET = "ckds000000000000000000001"  # the project's dataset
EXPORTS = f"file://{tempfile.gettempdir()}/airflow-labelbox-exports"


@dag(
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["remote-tasks", "labelbox"],
    params={"project": PROJECT, "dataset": DATASET, "exports": EXPORTS},
)
def example_labelbox() -> None:
    upsert = RemoteTaskOperator(
        task_id="upsert_rows",
        conn_id="labelbox_default",
        task="upsert_data_rows",
        inputs={
            "dataset_id": "{{ params.dataset }}",
            # or the URI of an NDJSON file of rows: "s3://bucket/rows/{{ ds }}.ndjson"
            "rows": [
                {"global_key": "street-0001", "row_data": "https://storage.example.com/street/0001.jpg"},
                {"global_key": "street-0002", "row_data": "https://storage.example.com/street/0002.jpg"},
            ],
        },
    )
    predictions = RemoteTaskOperator(
        task_id="import_predictions",
        conn_id="labelbox_default",
        task="import_predictions",
        inputs={
            "project_id": "{{ params.project }}",
            "predictions": [
                {
                    "name": "car",
                    "dataRow": {"globalKey": "street-0001"},
                    "bbox": {"top": 40, "left": 60, "height": 120, "width": 200},
                }
            ],
        },
    )
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

    upsert >> predictions >> export
    count_labels(export.output)


example_labelbox_dag = example_labelbox()
