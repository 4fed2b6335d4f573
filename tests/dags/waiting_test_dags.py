"""DAGs of tests/airflow/test_waiting_ux.py: each sensor in each of its modes (poke, reschedule, deferred)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, task

from airflow_remote_tasks import RemoteRunSensor, RemoteRunsSensor

START = datetime(2026, 1, 1)
ALL_DAGS: dict[str, DAG] = {}
MODES: dict[str, dict[str, Any]] = {
    "poke": {"mode": "poke", "deferrable": False},
    "reschedule": {"mode": "reschedule", "deferrable": False},
    "deferred": {"deferrable": True},
}
# Set waits on Avala's small project (3 tasks), and on a project that does not exist (retries would show).
SETS: dict[str, dict[str, Any]] = {
    "all": {"select": {"project": "proj-002"}, "timeout": 20},
    # for a state that does not change: it ends by its (soft) timeout
    "held": {"select": {"project": "proj-002"}, "timeout": 2, "soft_fail": True},
    "nope": {"select": {"project": "proj-nope"}, "timeout": 20, "retries": 1},
    # reads fail now and then, never for 1.5 s in a row (tests fail one poke in three)
    "flaky": {"select": {"project": "proj-002"}, "timeout": 60, "transient_error_budget": 1.5},
    # try 1 uses up its budget; its retry's first poke fails too, and must not count try 1's failures
    "retried": {
        "select": {"project": "proj-002"},
        "timeout": 30,
        "transient_error_budget": 1.0,
        "retries": 1,
        "on_retry_callback": lambda context: fail_next_listings(context, 2),
    },
}


def fail_next_listings(context: Any, count: int) -> None:
    """Make the emulator at ``params.emulator`` fail the next ``count`` listings of Avala tasks."""
    import httpx

    faults = {"fail_method": "GET /api/v1/tasks/", "fail_method_next": count}
    httpx.post(f"{context['params']['emulator']}/_emulator/faults", json=faults).raise_for_status()


def sensor_dag(dag_id: str, mode: str, **sensor: Any) -> DAG:
    """A RemoteRunSensor ("sensor") in ``mode`` on run ``params.run``, and a task that receives its XCom."""
    with DAG(dag_id, start_date=START, schedule=None, catchup=False, params={"run": ""}) as dag:
        waited = RemoteRunSensor(
            task_id="sensor",
            run_id="{{ params.run }}",
            poke_interval=0.2,
            timeout=30,
            **MODES[mode],
            **sensor,
        )

        @task
        def downstream(outcome: Any) -> Any:
            print(f"downstream received: {outcome!r}")
            return outcome

        downstream(waited.output)
    ALL_DAGS[dag_id] = dag
    return dag


def set_dag(dag_id: str, mode: str, **sensor: Any) -> DAG:
    """A RemoteRunsSensor ("runs") in ``mode`` on Avala."""
    with DAG(dag_id, start_date=START, schedule=None, catchup=False, params={"emulator": ""}) as dag:
        RemoteRunsSensor(
            task_id="runs",
            conn_id="avala_default",
            poke_interval=0.2,
            retry_delay=timedelta(seconds=0),
            **MODES[mode],
            **sensor,
        )
    ALL_DAGS[dag_id] = dag
    return dag


for mode in MODES:
    for platform in ("flyte", "julep", "labelbox"):
        sensor_dag(f"w_{platform}_{mode}", mode, conn_id=f"{platform}_default")
    # its first transient error fails the try; the retry waits on
    sensor_dag(
        f"w_flyte_retry_{mode}",
        mode,
        conn_id="flyte_default",
        retries=1,
        retry_delay=timedelta(seconds=0),
        transient_error_budget=0,
    )
    for name, sensor in SETS.items():
        set_dag(f"w_set_{name}_{mode}", mode, **sensor)
