"""Remote runs as assets: one DAG exports a Labelbox project's finished labels to object storage every night;
another is scheduled on that file and runs once it is complete, never on a partial one.

``output_path`` is an asset: the operator records an event on the file's URI (the path without its conn_id:
``s3://aws_default@bucket/labels.ndjson`` is ``Asset("s3://bucket/labels.ndjson")``) only once the file is in
place and checked, with the run's summary (run id, link, phase, bytes, rows) in the event's ``extra``. A run
that fails, or a download that breaks, records none. The task's own outlets (here the Labelbox project, as
``labelbox://projects/<id>``) get the same summary.

A templated ``output_path`` (``.../{{ ds }}/labels.ndjson``) names a new file each run: schedule on its alias
instead, ``schedule=output_path_alias(".../{{ ds }}/labels.ndjson")`` (the path exactly as the producer writes
it), and each new file triggers the DAG. Needs the ``labelbox_default`` connection of ``example_labelbox.py``
(or the emulator: ``remote-tasks emulator labelbox --port 8091``).
"""

from __future__ import annotations

import json
import tempfile
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, Asset, ObjectStoragePath, task

from airflow_remote_tasks import RemoteTaskOperator

PROJECT = "ckproj0000000000000000001"  # the emulator's seeded project; in real use, your project's id
# Where the export goes: any ObjectStoragePath (s3://aws_default@bucket/exports/labels.ndjson...).
LABELS = f"file://{tempfile.gettempdir()}/airflow-asset-exports/labels.ndjson"

with DAG(
    "example_assets_export",
    schedule="@daily",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["remote-tasks", "labelbox", "assets"],
) as example_assets_export_dag:
    RemoteTaskOperator(
        task_id="export",
        conn_id="labelbox_default",
        task="export_project",
        inputs={
            "project_id": PROJECT,
            "filters": {"workflow_status": "Done"},
            "params": {"label_details": True},
        },
        output_path=LABELS,
        outlets=[Asset(f"labelbox://projects/{PROJECT}")],
        deferrable=True,
        poll_interval=2,
        timeout=timedelta(hours=2),
    )

with DAG(
    "example_assets_on_labels",
    schedule=Asset(LABELS),  # the complete file: its event is recorded only once it is in place
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["remote-tasks", "assets"],
) as example_assets_on_labels_dag:

    @task
    def count_rows(*, triggering_asset_events: Any = None) -> str:
        """Read the file the event names, and say which run wrote it (from the event's extra)."""
        event = triggering_asset_events[Asset(LABELS)][-1]
        with ObjectStoragePath(LABELS).open("r") as lines:
            rows = sum(1 for line in lines if json.loads(line))
        return f"{rows} rows from run {event.extra['run_id']} {event.extra['url']}; it announced {event.extra['rows']}"

    count_rows()
