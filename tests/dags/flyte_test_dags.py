"""DAGs the tests run with dag.test(). Each isolates one behaviour of RemoteTaskOperator."""

from __future__ import annotations

import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, task

from airflow_remote_tasks import RemoteRunSensor, RemoteTaskOperator

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "example_dags"))
from example_flyte import example_flyte_dag

START = datetime(2026, 1, 1)
ALL_DAGS: dict[str, DAG] = {"example_flyte": example_flyte_dag}


def remote_dag(
    dag_id: str,
    *,
    retries: int = 0,
    collect: bool = True,
    registry: dict[str, DAG] = ALL_DAGS,
    **operator: Any,
) -> DAG:
    """A DAG of one RemoteTaskOperator ("remote") and a task that receives its output ("collect")."""
    params = operator.pop("params", None)
    with DAG(dag_id, start_date=START, schedule=None, catchup=False, tags=["test"], params=params) as dag:
        remote = RemoteTaskOperator(
            task_id=operator.pop("task_id", "remote"),
            conn_id=operator.pop("conn_id", "flyte_default"),
            poll_interval=operator.pop("poll_interval", 0.2),
            retries=retries,
            retry_delay=timedelta(seconds=0),
            **operator,
        )
        if collect:

            @task
            def collect(value: Any) -> Any:
                print(f"downstream received: {value!r}")
                return value

            collect(remote.output)
    registry[dag_id] = dag
    return dag


for deferrable in (True, False):
    mode = "deferred" if deferrable else "worker"
    remote_dag(
        f"t_hello_{mode}", task="demo.say_hello", inputs={"name": "Grace", "n": 2}, deferrable=deferrable
    )
    remote_dag(f"t_fail_{mode}", task="demo.fail", inputs={"message": "disk full"}, deferrable=deferrable)
    remote_dag(
        f"t_timeout_{mode}", task="demo.sleep", inputs={"seconds": 60}, timeout=1.0, deferrable=deferrable
    )
    remote_dag(
        f"t_retry_{mode}",
        task="demo.say_hello",
        inputs={"name": "retry"},
        retries=1,
        transient_error_budget=0,
        deferrable=deferrable,
    )

remote_dag("t_version_v1", task="demo.say_hello", version="v1", inputs={"name": "old"})
remote_dag(
    "t_stats", task="demo.stats", inputs={"values": [1.0, 2.0, 6.0]}, multiple_outputs=True, collect=False
)
remote_dag(
    "t_struct", task="demo.describe", inputs={"config": {"lr": 0.1, "layers": [64, 32]}, "tags": ["a"]}
)
remote_dag("t_bad_inputs", task="demo.say_hello", inputs={"name": 42, "count": 3})
remote_dag("t_unjsonable", task="demo.describe", inputs={"config": {"when": object()}})
remote_dag("t_unknown_task", task="demo.nope", inputs={})
remote_dag("t_unknown_version", task="demo.say_hello", version="v9", inputs={"name": "x"})
remote_dag("t_big_output", task="demo.big_output", inputs={"size": 300_000})
remote_dag("t_other_conn", task="demo.say_hello", inputs={"name": "x"}, conn_id="other")
remote_dag(
    "t_templated",
    task="{{ params.task }}",
    inputs={"name": "{{ params.who }}", "n": "{{ params.n }}"},
    params={"task": "demo.say_hello", "who": "Jinja", "n": 2},
)
remote_dag("t-Hostile.IDS--x", task="demo.say_hello", inputs={"name": "x"}, task_id="Weird.Task-ID__x")
# Errors that cannot fix themselves: one try each, though retries=2.
remote_dag("t_retries_bad_inputs", task="demo.say_hello", inputs={"name": 42}, retries=2)
remote_dag("t_retries_unknown_conn", task="demo.say_hello", inputs={"name": "x"}, conn_id="nope", retries=2)
remote_dag("t_retries_unknown_task", task="demo.nope", inputs={}, retries=2)
remote_dag("t_retries_wrong_endpoint", task="demo.say_hello", inputs={"name": "x"}, retries=1)
remote_dag(
    "t_huge_error", task="demo.fail", inputs={"message": "{{ params.message }}"}, params={"message": ""}
)
for deferrable in (True, False):
    mode = "deferred" if deferrable else "worker"
    remote_dag(
        f"t_budget_{mode}",
        task="demo.sleep",
        inputs={"seconds": 60},
        transient_error_budget=2,
        poll_interval=0.5,
        deferrable=deferrable,
    )

with DAG(
    "t_sensor", start_date=START, schedule=None, catchup=False, params={"run": "", "targets": None}
) as dag:
    for deferrable in (True, False):
        RemoteRunSensor(
            task_id=f"sensor_{'deferred' if deferrable else 'poke'}",
            conn_id="flyte_default",
            run_id="{{ params.run }}",
            poke_interval=0.2,
            timeout=30,
            deferrable=deferrable,
        )
ALL_DAGS["t_sensor"] = dag

# A run that never reaches a known phase: the sensor's timeout ends the wait.
with DAG("t_sensor_short", start_date=START, schedule=None, catchup=False, params={"run": ""}) as dag:
    RemoteRunSensor(
        task_id="sensor_poke",
        conn_id="flyte_default",
        run_id="{{ params.run }}",
        poke_interval=0.2,
        timeout=1.5,
    )
ALL_DAGS["t_sensor_short"] = dag

for dag_id, budget in (("t_sensor_budget", 2.0), ("t_sensor_tolerant", 600.0)):
    with DAG(dag_id, start_date=START, schedule=None, catchup=False, params={"run": ""}) as dag:
        RemoteRunSensor(
            task_id="sensor_poke",
            conn_id="flyte_default",
            run_id="{{ params.run }}",
            poke_interval=0.3,
            timeout=60,
            transient_error_budget=budget,
        )
    ALL_DAGS[dag_id] = dag
remote_dag(
    "t_output_path",
    task="demo.say_hello",
    inputs={"name": "Storage", "n": 2},
    output_path="{{ params.out }}",
    params={"out": ""},
)

from airflow_remote_tasks import RemoteRunsSensor  # noqa: E402

RUN_SETS: dict[str, dict[str, Any]] = {
    "t_runs_label": {"select": {"labels": {"team": "{{ params.team }}"}}},
    "t_runs_keep": {"select": {"labels": {"team": "{{ params.team }}"}}, "fail_on_failure": False},
    "t_runs_task": {"select": {"task_name": "demo.say_hello"}, "target_phases": ["succeeded"]},
    "t_runs_typo": {"select": {"task": "demo.say_hello"}},
    # a project or domain that does not exist: permanent, so the retry is never used
    "t_runs_no_project": {
        "select": {"project": "no-such-project-typo", "task_name": "demo.stats"},
        "retries": 1,
        "retry_delay": timedelta(seconds=0),
    },
    "t_runs_no_domain": {
        "select": {"domain": "dev", "task_name": "demo.stats"},
        "retries": 1,
        "retry_delay": timedelta(seconds=0),
    },
}
for dag_id, sensor in RUN_SETS.items():
    with DAG(dag_id, start_date=START, schedule=None, catchup=False, params={"team": "vision"}) as dag:
        for deferrable in (True, False):
            RemoteRunsSensor(
                task_id=f"runs_{'deferred' if deferrable else 'poke'}",
                conn_id="flyte_default",
                poke_interval=0.3,
                timeout=60,
                deferrable=deferrable,
                **sensor,
            )
    ALL_DAGS[dag_id] = dag
