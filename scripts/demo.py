"""`make demo`: run the example DAGs for real (dag.test) against the Flyte and Julep emulators.

Starts each emulator on a free loopback port, gives Airflow a throw-away home (removed at the end) with a
migrated SQLite database, runs ``example_flyte``, ``example_julep``, ``example_labelbox`` and ``example_avala`` and prints what reached their downstream tasks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def show(run: Any, linked_task: str, downstream: str) -> bool:
    tis = {ti.task_id: ti for ti in run.get_task_instances()}
    print()
    print(f"DAG run {run.dag_id} / {run.run_id}: {run.state}")
    for task_id, ti in sorted(tis.items()):
        print(f"  {task_id:<12} {ti.state}")
    linked = tis[linked_task]
    print(
        f"Remote run: {linked.xcom_pull(task_ids=linked_task, key='run_url') or linked.xcom_pull(task_ids=linked_task, key='run_id')}"
    )
    print(f"Outputs that reached the downstream task: {tis[downstream].xcom_pull(task_ids=downstream)}")
    return str(run.state) == "success"


def main() -> int:
    # Airflow's dag.test imports Starlette's test client, which warns about its own httpx use: not ours.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient` is deprecated")
    with tempfile.TemporaryDirectory(prefix="remote-tasks-demo-") as home:
        ok = demo(home)
    print()
    print("Next: `make airflow` runs the same DAGs in a local Airflow with its UI, at http://127.0.0.1:8080.")
    return 0 if ok else 1


def demo(home: str) -> bool:
    os.environ.update(
        AIRFLOW_HOME=home,
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__DAGS_FOLDER=str(ROOT / "example_dags"),
        AIRFLOW__LOGGING__LOGGING_LEVEL=os.environ.get("DEMO_LOG_LEVEL", "WARNING"),
    )
    print(f"Airflow home: {home} (SQLite); migrating the metadata database...", flush=True)
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)

    from airflow_remote_tasks.emulators.avala import AvalaEmulator
    from airflow_remote_tasks.emulators.flyte import FlyteEmulator
    from airflow_remote_tasks.emulators.julep import DEMO_AGENT_ID, JulepEmulator
    from airflow_remote_tasks.emulators.labelbox import LabelboxEmulator
    from airflow_remote_tasks.emulators.server import ServerThread

    sys.path.insert(0, str(ROOT / "example_dags"))
    flyte = FlyteEmulator(queue_seconds=0.5, run_seconds=2.0)
    julep = JulepEmulator(api_key="demo-key", step_seconds=0.3)
    labelbox = LabelboxEmulator(task_seconds=1.0)
    avala = AvalaEmulator(pace=0.01, job_seconds=1.0)  # people label a task every 10 ms here
    with (
        ServerThread(flyte.app) as flyte_server,
        ServerThread(julep.app) as julep_server,
        ServerThread(labelbox.app) as labelbox_server,
        ServerThread(avala.app) as avala_server,
    ):
        os.environ["AIRFLOW_CONN_AVALA_DEFAULT"] = json.dumps(
            {"conn_type": "remote_tasks_avala", "host": f"{avala_server.url}/api/v1", "password": "avk_demo"}
        )
        print(f"Flyte emulator: {flyte_server.url}", flush=True)
        print(f"Julep emulator: {julep_server.url}/api", flush=True)
        print(f"Labelbox emulator: {labelbox_server.url}/graphql", flush=True)
        os.environ["AIRFLOW_CONN_LABELBOX_DEFAULT"] = json.dumps(
            {
                "conn_type": "remote_tasks_labelbox",
                "host": f"{labelbox_server.url}/graphql",
                "password": "demo-key",
            }
        )
        os.environ["AIRFLOW_CONN_FLYTE_DEFAULT"] = json.dumps(
            {"conn_type": "remote_tasks_flyte", "host": flyte_server.url}
        )
        os.environ["AIRFLOW_CONN_JULEP_DEFAULT"] = json.dumps(
            {
                "conn_type": "remote_tasks_julep",
                "host": f"{julep_server.url}/api",
                "password": "demo-key",
                "extra": {"agent_id": DEMO_AGENT_ID},
            }
        )
        from example_flyte import example_flyte_dag
        from example_julep import example_julep_dag

        ok = show(example_flyte_dag.test(run_conf={"name": "Airflow"}), "hello", "report")
        print(f"Runs on the Flyte emulator: {len(flyte.state.runs)}")
        ok = show(example_julep_dag.test(), "review", "report") and ok
        print(f"Executions on the Julep emulator: {len(julep.state.executions)}")
        from example_labelbox import example_labelbox_dag

        exports = f"file://{home}/labelbox-exports"
        ok = show(example_labelbox_dag.test(run_conf={"exports": exports}), "export", "count_labels") and ok
        print(f"Tasks on the Labelbox emulator: {len(labelbox.state.tasks)}")
        from example_avala import example_avala_dag

        run = example_avala_dag.test(run_conf={"exports": f"file://{home}/avala-exports"})
        ok = show(run, "export", "read_export") and ok
        print(
            f"Exports and auto-label jobs on the Avala emulator: {len(avala.state.exports)}, {len(avala.state.jobs)}"
        )
        return ok


if __name__ == "__main__":
    sys.exit(main())
