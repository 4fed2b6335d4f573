"""Avala: wait until people have labelled a project, export the labels to storage, and auto-label the rest.

Annotation tasks are done by people in Avala: the DAG waits on the whole set of a project's annotation tasks,
then exports the project (the file is streamed to ``output_path``) and a downstream task reads it. Needs a
connection ``avala_default`` of type ``remote_tasks_avala`` with an API key. To try it offline, start the
emulator (``remote-tasks emulator avala --port 8092``; it prints its base URL and a seeded project)::

    AIRFLOW_CONN_AVALA_DEFAULT='{"conn_type": "remote_tasks_avala", "host": "http://127.0.0.1:8092/api/v1",
        "password": "avk_any"}'
"""

from __future__ import annotations

import tempfile
import zipfile
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import ObjectStoragePath, dag, task

from airflow_remote_tasks import RemoteRunsSensor, RemoteTaskOperator

PROJECT = "proj-001"  # the emulator's seeded project; in real use, your project's uid
EXPORTS = f"file://{tempfile.gettempdir()}/airflow-avala-exports"


@dag(
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["remote-tasks", "avala"],
    params={"project": PROJECT, "exports": EXPORTS},
)
def example_avala() -> None:
    labelled = RemoteRunsSensor(
        task_id="labelled",
        conn_id="avala_default",
        select={"project": "{{ params.project }}", "type": "annotation"},
        target_phases=["succeeded"],
        min_count=1,
        poke_interval=5,
        timeout=timedelta(days=2).total_seconds(),
        deferrable=True,
    )
    export = RemoteTaskOperator(
        task_id="export",
        conn_id="avala_default",
        task="export",
        inputs={"project": "{{ params.project }}"},
        output_path="{{ params.exports }}/{{ run_id | replace(':', '_') }}/export.zip",
        poll_interval=2,
        deferrable=True,
    )
    autolabel = RemoteTaskOperator(
        task_id="autolabel",
        conn_id="avala_default",
        task="auto_label",
        inputs={"project": "{{ params.project }}", "model_type": "yolo", "confidence_threshold": 0.5},
        timeout=timedelta(hours=1),  # cancelled (DELETE) when it outlives this
        poll_interval=2,
    )

    @task
    def read_export(summary: dict[str, Any]) -> str:
        with ObjectStoragePath(summary["path"]).open("rb") as archive, zipfile.ZipFile(archive) as zipped:
            names = zipped.namelist()
        return f"{summary['bytes']} bytes, files {names} at {summary['path']}"

    labelled >> export >> autolabel
    read_export(export.output)


example_avala_dag = example_avala()
