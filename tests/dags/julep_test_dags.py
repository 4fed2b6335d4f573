"""Julep DAGs the tests run with dag.test(), each isolating one behaviour."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from airflow.sdk import DAG

from airflow_remote_tasks import RemoteRunSensor, ResumeRunOperator

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "example_dags"))
from example_julep import REVIEW, example_julep_dag
from flyte_test_dags import remote_dag

START = datetime(2026, 1, 1)
ALL_DAGS: dict[str, DAG] = {"example_julep": example_julep_dag}

GREET = {
    "name": "greet",
    "input_schema": {
        "type": "object",
        "properties": {"name": {"type": "string"}, "times": {"type": "integer", "minimum": 1, "default": 1}},
        "required": ["name"],
    },
    "main": [
        {"evaluate": {"line": "$ f'Hello, {steps[0].input.name}!'"}},
        {"log": "$ _.line"},
        {"return": {"text": "$ ' '.join([steps[0].output.line] * steps[0].input.times)"}},
    ],
}
FAIL = {
    "name": "fail",
    "main": [{"evaluate": {"disk": "$ 'full'"}}, {"error": "$ f'disk {_.disk}'"}],
}
SLOW = {
    "name": "slow",
    "main": [{"sleep": {"seconds": 0, "minutes": 0, "hours": 1, "days": 0}}, {"return": {"done": "$ True"}}],
}
BUSY = {
    "name": "busy",
    "main": [{"evaluate": {"i": str(i)}} for i in range(60)] + [{"return": {"steps": 60}}],
}


def julep_dag(dag_id: str, **operator: Any) -> DAG:
    return remote_dag(dag_id, conn_id="julep_default", registry=ALL_DAGS, **operator)


for deferrable in (True, False):
    mode = "deferred" if deferrable else "worker"
    julep_dag(f"j_hello_{mode}", task=GREET, inputs={"name": "Ada", "times": 2}, deferrable=deferrable)
    julep_dag(f"j_fail_{mode}", task=FAIL, deferrable=deferrable)
    julep_dag(f"j_timeout_{mode}", task=SLOW, timeout=1.0, deferrable=deferrable)
    julep_dag(
        f"j_retry_{mode}",
        task=GREET,
        inputs={"name": "again"},
        retries=1,
        transient_error_budget=0,
        deferrable=deferrable,
    )
    # polls rarely, so each poll finds dozens of new steps
    julep_dag(f"j_busy_{mode}", task=BUSY, poll_interval=2.0, deferrable=deferrable)
    julep_dag(
        f"j_paused_fail_{mode}", task=REVIEW, inputs={"summary": "s"}, on_paused="fail", deferrable=deferrable
    )

julep_dag("j_by_name", task="greet", inputs={"name": "by name"})
julep_dag("j_paused_wait", task=REVIEW, inputs={"summary": "keep waiting"})
julep_dag("j_by_name_unknown", task="nope", inputs={})
julep_dag("j_by_id", task="{{ dag_run.conf['task_id'] }}", inputs={"name": "by id"})
julep_dag("j_bad_inputs", task=GREET, inputs={"name": 7, "times": 0, "nmae": "typo"})
julep_dag("j_env", task=GREET, inputs={"name": "x"}, env={"A": "1"})
julep_dag("j_version", task=GREET, inputs={"name": "x"}, version="v2")
# A wrong base URL cannot fix itself: one try, though retries=1.
julep_dag("j_retries_wrong_endpoint", task=GREET, inputs={"name": "x"}, retries=1)

with DAG("j_sensor", start_date=START, schedule=None, catchup=False, params={"run": ""}) as dag:
    for deferrable in (True, False):
        RemoteRunSensor(
            task_id=f"sensor_{'deferred' if deferrable else 'poke'}",
            conn_id="julep_default",
            run_id="{{ params.run }}",
            poke_interval=0.2,
            timeout=30,
            deferrable=deferrable,
        )
ALL_DAGS["j_sensor"] = dag

with DAG("j_sensor_paused", start_date=START, schedule=None, catchup=False, params={"run": ""}) as dag:
    for policy in ("succeed", "fail"):
        RemoteRunSensor(
            task_id=f"sensor_{policy}",
            conn_id="julep_default",
            run_id="{{ params.run }}",
            poke_interval=0.2,
            timeout=30,
            on_paused=policy,
            deferrable=policy == "succeed",
        )
ALL_DAGS["j_sensor_paused"] = dag

with DAG("j_resume", start_date=START, schedule=None, catchup=False, params={"run": ""}) as dag:
    ResumeRunOperator(
        task_id="resume",
        conn_id="julep_default",
        run_id="{{ params.run }}",
        inputs={"approved": False, "reviewer": "ops"},
        poll_interval=0.2,
    )
ALL_DAGS["j_resume"] = dag
