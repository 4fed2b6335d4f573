"""Avala DAGs the tests run with dag.test(), each isolating one behaviour."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from airflow.sdk import DAG

from airflow_remote_tasks import RemoteRunSensor, RemoteRunsSensor

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "example_dags"))
from example_avala import PROJECT, example_avala_dag
from flyte_test_dags import START, remote_dag

ALL_DAGS: dict[str, DAG] = {"example_avala": example_avala_dag}


def avala_dag(dag_id: str, **operator: Any) -> DAG:
    operator.setdefault("params", {"out": ""})
    return remote_dag(dag_id, conn_id="avala_default", registry=ALL_DAGS, **operator)


avala_dag("av_export", task="export", inputs={"project": PROJECT}, output_path="{{ params.out }}")
avala_dag("av_export_bad", task="export", inputs={"project": PROJECT, "dataset": "ds-001"})
avala_dag("av_unknown_project", task="export", inputs={"project": "proj-nope"})
for deferrable in (True, False):
    mode = "deferred" if deferrable else "worker"
    avala_dag(
        f"av_autolabel_{mode}",
        task="auto_label",
        inputs={"project": PROJECT, "model_type": "yolo", "confidence_threshold": 0.5},
        deferrable=deferrable,
    )
    avala_dag(
        f"av_autolabel_timeout_{mode}",
        task="auto_label",
        inputs={"project": PROJECT, "model_type": "yolo"},
        timeout=0.5,
        deferrable=deferrable,
    )

with DAG("av_sensor", start_date=START, schedule=None, catchup=False, params={"run": ""}) as dag:
    for deferrable in (True, False):
        RemoteRunSensor(
            task_id=f"sensor_{'deferred' if deferrable else 'poke'}",
            conn_id="avala_default",
            run_id="{{ params.run }}",
            poke_interval=0.2,
            timeout=60,
            deferrable=deferrable,
        )
ALL_DAGS["av_sensor"] = dag

for dag_id, select in (
    ("av_set", {"project": PROJECT, "type": "annotation"}),
    ("av_set_typo", {"project": PROJECT, "kind": "annotation"}),
):
    with DAG(dag_id, start_date=START, schedule=None, catchup=False) as dag:
        for deferrable in (True, False):
            RemoteRunsSensor(
                task_id=f"set_{'deferred' if deferrable else 'poke'}",
                conn_id="avala_default",
                select=select,
                poke_interval=0.3,
                timeout=60,
                deferrable=deferrable,
            )
    ALL_DAGS[dag_id] = dag
