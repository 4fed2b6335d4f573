"""DAGs of sensors whose run ids are static, for the real-Airflow tests of sensors that start in the triggerer.

The runs are started by the test, through the emulator, under names known when this file is parsed
(:func:`static_run_id`, the name ``support.start_run`` gives the run of a key).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import DAG, task

from airflow_remote_tasks import RemoteRunSensor
from airflow_remote_tasks.core.models import RunOrigin

START = datetime(2026, 1, 1)
STATIC_SENSORS = 10  # in the test's DAG: enough to see every one start with no worker process, quickly
MEASURED_SENSORS = 100  # in the measurement's two DAGs, the same sensors started either way


def static_run_id(dag_id: str, n: int) -> str:
    """The run id of sensor ``n`` of ``dag_id``: the name of the run the test starts for key
    ``<dag_id>-<n>`` (``support.start_run``)."""
    return RunOrigin(dag_id="d", run_id="r", task_id=f"{dag_id}-{n}").run_name


def sensors(dag_id: str, count: int, **arguments: Any) -> list[RemoteRunSensor]:
    return [
        RemoteRunSensor(
            task_id=f"wait_{n}",
            conn_id="flyte_default",
            run_id=static_run_id(dag_id, n),
            deferrable=True,
            poke_interval=1,
            retries=0,
            **arguments,
        )
        for n in range(count)
    ]


with DAG(
    "c_sensors_from_trigger", start_date=START, schedule=None, catchup=False, params={"templated": ""}
) as dag:
    static = sensors("c_sensors_from_trigger", STATIC_SENSORS)
    # Known only when the task runs: defers from the worker.
    templated = RemoteRunSensor(
        task_id="templated",
        conn_id="flyte_default",
        run_id="{{ params.templated }}",
        deferrable=True,
        poke_interval=1,
        retries=0,
    )

    @task
    def outputs(results: list[dict[str, Any]]) -> dict[str, Any]:
        return {result["run_id"]: result["outputs"] for result in results}

    outputs([sensor.output for sensor in [*static, templated]])


# The measurement: the same sensors, started in the triggerer or, as before, by a worker that defers them.
with DAG("c_sensors_measured_triggerer", start_date=START, schedule=None, catchup=False) as dag:
    sensors("c_sensors_measured", MEASURED_SENSORS)

with DAG("c_sensors_measured_worker", start_date=START, schedule=None, catchup=False) as dag:
    sensors("c_sensors_measured", MEASURED_SENSORS, start_from_trigger=False)
