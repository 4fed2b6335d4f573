"""`make demo`: run the Flyte example DAG for real (dag.test) against the Flyte emulator.

Starts the emulator on a free loopback port, gives Airflow a throw-away home with a migrated SQLite
database, runs ``example_flyte`` and prints what reached the downstream task.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    home = tempfile.mkdtemp(prefix="remote-tasks-demo-")
    os.environ.update(
        AIRFLOW_HOME=home,
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__DAGS_FOLDER=str(ROOT / "example_dags"),
        AIRFLOW__LOGGING__LOGGING_LEVEL=os.environ.get("DEMO_LOG_LEVEL", "WARNING"),
    )
    print(f"Airflow home: {home} (SQLite); migrating the metadata database...", flush=True)
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)

    from airflow_remote_tasks.emulators.flyte import FlyteEmulator
    from airflow_remote_tasks.emulators.server import ServerThread

    emulator = FlyteEmulator(queue_seconds=0.5, run_seconds=2.0)
    with ServerThread(emulator.app) as server:
        print(f"Flyte emulator: {server.url}", flush=True)
        os.environ["AIRFLOW_CONN_FLYTE_DEFAULT"] = json.dumps(
            {"conn_type": "remote_tasks_flyte", "host": server.url}
        )
        sys.path.insert(0, str(ROOT / "example_dags"))
        from example_flyte import example_flyte_dag

        run = example_flyte_dag.test(run_conf={"name": "Airflow"})
        states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
        report = next(ti for ti in run.get_task_instances() if ti.task_id == "report")
        received = report.xcom_pull(task_ids="report")
        hello = next(ti for ti in run.get_task_instances() if ti.task_id == "hello")
        print()
        print(f"DAG run {run.run_id}: {run.state}")
        for task_id, state in sorted(states.items()):
            print(f"  {task_id:<12} {state}")
        print(f"Remote run: {hello.xcom_pull(task_ids='hello', key='run_url')}")
        print(f"Outputs that reached the downstream task: {received}")
        print(f"Runs on the emulator: {len(emulator.state.runs)}")
        return 0 if str(run.state) == "success" else 1


if __name__ == "__main__":
    sys.exit(main())
