"""Labelbox DAGs the tests run with dag.test(), each isolating one behaviour."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from airflow.sdk import DAG

from airflow_remote_tasks import RemoteRunSensor

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "example_dags"))
from example_labelbox import PROJECT, example_labelbox_dag
from flyte_test_dags import START, remote_dag

ALL_DAGS: dict[str, DAG] = {"example_labelbox": example_labelbox_dag}
DATASET = "ckds000000000000000000001"
EXPORT = {"project_id": PROJECT, "filters": {"workflow_status": "Done"}, "params": {"label_details": True}}


def labelbox_dag(dag_id: str, **operator: Any) -> DAG:
    operator.setdefault("params", {"out": ""})
    return remote_dag(dag_id, conn_id="labelbox_default", registry=ALL_DAGS, **operator)


for deferrable in (True, False):
    mode = "deferred" if deferrable else "worker"
    labelbox_dag(
        f"lb_export_{mode}",
        task="export_project",
        inputs=EXPORT,
        output_path="{{ params.out }}",
        deferrable=deferrable,
    )
    labelbox_dag(
        f"lb_timeout_{mode}", task="export_project", inputs=EXPORT, timeout=1.0, deferrable=deferrable
    )
    labelbox_dag(
        f"lb_retry_{mode}",
        task="export_project",
        inputs=EXPORT,
        output_path="{{ params.out }}",
        retries=1,
        transient_error_budget=0,
        deferrable=deferrable,
    )
labelbox_dag(
    "lb_export_dataset",
    task="export_dataset",
    inputs={"dataset_id": DATASET, "params": {"metadata_fields": True}},
    output_path="{{ params.out }}",
)
labelbox_dag("lb_inline", task="export_project", inputs=EXPORT)
labelbox_dag("lb_inline_too_big", task="export_dataset", inputs={"dataset_id": DATASET}, max_output_bytes=500)
labelbox_dag("lb_bad_kind", task="export_projects", inputs=EXPORT)
labelbox_dag(
    "lb_bad_inputs",
    task="export_project",
    inputs={"project_id": PROJECT, "filters": {"workflow_state": "Done"}, "params": {"labels": True}},
)
labelbox_dag("lb_unknown_project", task="export_project", inputs={"project_id": "ckprojNOPE000000000000000"})
labelbox_dag("lb_unwritable", task="export_project", inputs=EXPORT, output_path="{{ params.out }}")

with DAG("lb_sensor", start_date=START, schedule=None, catchup=False, params={"run": ""}) as dag:
    for deferrable in (True, False):
        RemoteRunSensor(
            task_id=f"sensor_{'deferred' if deferrable else 'poke'}",
            conn_id="labelbox_default",
            run_id="{{ params.run }}",
            poke_interval=0.2,
            timeout=30,
            deferrable=deferrable,
        )
ALL_DAGS["lb_sensor"] = dag

NEW_ROWS = [
    {"global_key": "new-1", "row_data": "https://storage.example.com/new/1.jpg", "external_id": "new-1.jpg"},
    {"global_key": "new-2", "row_data": "https://storage.example.com/new/2.jpg"},
    {"global_key": "000001-0", "external_id": "renamed-0.jpg"},  # an existing row, updated
]
labelbox_dag("lb_upsert_inline", task="upsert_data_rows", inputs={"dataset_id": DATASET, "rows": NEW_ROWS})
labelbox_dag(
    "lb_upsert_file",
    task="upsert_data_rows",
    inputs={"dataset_id": DATASET, "rows": "{{ params.rows }}"},
    params={"rows": ""},
)
for fail in (True, False):
    labelbox_dag(
        f"lb_upsert_refused_{'fail' if fail else 'keep'}",
        task="upsert_data_rows",
        inputs={
            "dataset_id": DATASET,
            "rows": [*NEW_ROWS[:1], {"global_key": "no-data-yet"}],  # a new row needs row_data
            "fail_on_row_errors": fail,
        },
    )
labelbox_dag(
    "lb_upsert_unkeyed",
    task="upsert_data_rows",
    inputs={"dataset_id": DATASET, "rows": [{"row_data": "https://x/1.jpg"}]},
)
labelbox_dag("lb_upsert_rows_int", task="upsert_data_rows", inputs={"dataset_id": DATASET, "rows": 5})

# The emulator's rows: ckdr<dataset tail><index>, global keys <dataset tail>-<index>.
LABELS = [
    {
        "name": "car",
        "dataRow": {"id": "ckdr000001000000000001"},
        "bbox": {"top": 1, "left": 2, "height": 3, "width": 4},
    },
    {
        "name": "car",
        "dataRow": {"globalKey": "000001-3"},
        "bbox": {"top": 5, "left": 6, "height": 7, "width": 8},
    },
]
for job, key in (("import_labels", "labels"), ("import_predictions", "predictions")):
    labelbox_dag(
        f"lb_{job}",
        task=job,
        inputs={"project_id": PROJECT, key: "{{ params.file }}"},
        params={"file": ""},
    )
labelbox_dag("lb_import_inline", task="import_labels", inputs={"project_id": PROJECT, "labels": LABELS})
for fail in (True, False):
    labelbox_dag(
        f"lb_import_missing_row_{'fail' if fail else 'keep'}",
        task="import_labels",
        inputs={
            "project_id": PROJECT,
            "labels": [*LABELS[:1], {"name": "car", "dataRow": {"id": "ckdrNOPE"}}],
            "fail_on_row_errors": fail,
        },
    )
labelbox_dag(
    "lb_import_bad",
    task="import_labels",
    inputs={"project_id": PROJECT, "labels": [{"name": "car", "dataRow": {"id": "a", "globalKey": "b"}}]},
)
labelbox_dag(
    "lb_import_retry",
    task="import_labels",
    inputs={"project_id": PROJECT, "labels": LABELS},
    retries=1,
    transient_error_budget=0,
)
labelbox_dag(
    "lb_upsert_unknown_dataset",
    task="upsert_data_rows",
    inputs={"dataset_id": "ckdsNOPE", "rows": NEW_ROWS},
)
labelbox_dag(
    "lb_import_timeout", task="import_labels", inputs={"project_id": PROJECT, "labels": LABELS}, timeout=1.0
)
