"""Run a Flyte task from Airflow and use its output downstream.

Needs a connection ``flyte_default`` of type ``remote_tasks_flyte``. To try it offline, start the emulator
(``remote-tasks emulator flyte --port 8089``) and point the connection at it:
``AIRFLOW_CONN_FLYTE_DEFAULT='{"conn_type": "remote_tasks_flyte", "host": "http://127.0.0.1:8089"}'``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import dag, task

from airflow_remote_tasks import RemoteRunSensor, RemoteTaskOperator


@dag(
    dag_id="example_flyte",
    start_date=datetime(2026, 1, 1),
    schedule=None,
    catchup=False,
    params={"name": "world", "n": 3},
    tags=["example", "flyte", "remote-tasks"],
)
def example_flyte() -> None:
    hello = RemoteTaskOperator(
        task_id="hello",
        conn_id="flyte_default",
        task="demo.say_hello",  # Flyte task name: <environment>.<function>
        version="latest",
        inputs={"name": "{{ dag_run.conf.get('name', params.name) }}", "n": "{{ params.n }}"},
        deferrable=True,
        poll_interval=1,
        timeout=timedelta(minutes=30),
    )

    stats = RemoteTaskOperator(
        task_id="stats",
        conn_id="flyte_default",
        task="demo.stats",
        inputs={"values": [2.0, 1.5, 4.0]},
        multiple_outputs=True,  # one XCom per named output: mean, maximum, count
        deferrable=False,
        poll_interval=1,
    )

    watch = RemoteRunSensor(
        task_id="watch_hello",
        conn_id="flyte_default",
        run_id="{{ ti.xcom_pull(task_ids='hello', key='run_id') }}",
        poke_interval=1,
        deferrable=True,
    )

    @task
    def report(greeting: str, mean: float, count: int) -> str:
        line = f"greeting={greeting!r} mean={mean} count={count}"
        print(f"Outputs received downstream: {line}")
        return line

    hello >> watch
    report(hello.output, stats.output["mean"], stats.output["count"])


example_flyte_dag = example_flyte()
