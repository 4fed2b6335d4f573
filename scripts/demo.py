"""`make demo`: run the example DAGs for real (dag.test) against emulators of all four platforms: Flyte 2 / Union,
Julep, Labelbox and Avala.

Starts each emulator on a free loopback port and prints its name and address, gives Airflow a throw-away home
(removed at the end) with a migrated SQLite database, runs ``example_flyte``, ``example_julep``,
``example_labelbox`` and ``example_avala``, and prints what reached their downstream tasks and each remote run's
link (a page on its emulator, open while the demo runs). The files the DAGs write to object storage
(``output_path``: Labelbox and Avala exports) are kept in ``demo-output/`` in the checkout (ignored by git), one
folder per DAG run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "demo-output"


def show(run: Any, downstream: str, emulators: list[str]) -> bool:
    tis = {ti.task_id: ti for ti in run.get_task_instances()}
    print()
    print(f"DAG run {run.dag_id} / {run.run_id}: {run.state}")
    for task_id, ti in sorted(tis.items()):
        link = ti.xcom_pull(task_ids=task_id, key="run_url") or ti.xcom_pull(task_ids=task_id, key="run_id")
        print(f"  {task_id:<18} {ti.state!s:<8} {link or ''} {opens(link, emulators)}".rstrip())
    print(f"Outputs that reached the downstream task: {tis[downstream].xcom_pull(task_ids=downstream)}")
    return str(run.state) == "success"


def opens(link: Any, emulators: list[str]) -> str:
    """Whether a run link opens a page on an emulator (each serves one for its runs); others are not fetched."""
    if not (isinstance(link, str) and link.startswith("http")):
        return ""
    if not any(link.startswith(f"{url}/") for url in emulators):
        return "(not an emulator page)"
    import httpx

    try:
        return f"(page: HTTP {httpx.get(link, timeout=5, trust_env=False).status_code})"
    except httpx.HTTPError as error:
        return f"(does not open: {error})"


def main() -> int:
    # Airflow's dag.test imports Starlette's test client, which warns about its own httpx use: not ours.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient` is deprecated")
    started = time.time() - 1
    OUTPUT.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="remote-tasks-demo-") as home:
        ok = demo(home)
    written = sorted(path for path in OUTPUT.rglob("*") if path.is_file() and path.stat().st_mtime >= started)
    print()
    print(f"Files the DAGs wrote (output_path), kept in {OUTPUT}:")
    for path in written:
        print(f"  {path.relative_to(ROOT)} ({path.stat().st_size:,} bytes)")
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
    from airflow_remote_tasks.emulators.julep.pages import EXECUTION_LINK
    from airflow_remote_tasks.emulators.labelbox import LabelboxEmulator
    from airflow_remote_tasks.emulators.server import ServerThread

    sys.path.insert(0, str(ROOT / "example_dags"))
    # A Flyte run ends within a second, the example DAGs' poll interval: a longer one would only add waiting.
    flyte = FlyteEmulator(queue_seconds=0.2, run_seconds=0.5)
    julep = JulepEmulator(api_key="demo-key", step_seconds=0.3)
    labelbox = LabelboxEmulator(task_seconds=1.0)
    avala = AvalaEmulator(pace=0.01, job_seconds=1.0)  # people label a task every 10 ms here
    with (
        ServerThread(flyte.app) as flyte_server,
        ServerThread(julep.app) as julep_server,
        ServerThread(labelbox.app) as labelbox_server,
        ServerThread(avala.app) as avala_server,
    ):
        # Each platform: its API address, its connection, and the fields that point run links at the emulator.
        key = {"password": "demo-key"}  # the emulators take any key; a Flyte password would be an API key
        emulators = {
            "Flyte 2 / Union": (flyte_server.url, "flyte_default", {"conn_type": "remote_tasks_flyte"}),
            "Julep": (
                f"{julep_server.url}/api",
                "julep_default",
                {
                    "conn_type": "remote_tasks_julep",
                    **key,
                    "extra": {"agent_id": DEMO_AGENT_ID, "execution_link": julep_server.url + EXECUTION_LINK},
                },
            ),
            "Labelbox": (
                f"{labelbox_server.url}/graphql",
                "labelbox_default",
                {"conn_type": "remote_tasks_labelbox", **key, "extra": {"app_url": labelbox_server.url}},
            ),
            "Avala": (
                f"{avala_server.url}/api/v1",
                "avala_default",
                {
                    "conn_type": "remote_tasks_avala",
                    "password": "avk_demo",
                    "extra": {"app_url": avala_server.url},
                },
            ),
        }
        print("Emulators (each with its Airflow connection):")
        for name, (address, conn_id, connection) in emulators.items():
            os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps({**connection, "host": address})
            print(f"  {name:<16} {address}  ({conn_id})", flush=True)
        from example_avala import example_avala_dag
        from example_flyte import example_flyte_dag
        from example_julep import example_julep_dag
        from example_labelbox import example_labelbox_dag

        servers = [server.url for server in (flyte_server, julep_server, labelbox_server, avala_server)]
        ok = show(example_flyte_dag.test(run_conf={"name": "Airflow"}), "report", servers)
        print(f"Runs on the Flyte emulator: {len(flyte.state.runs)}")
        ok = show(example_julep_dag.test(), "report", servers) and ok
        print(f"Executions on the Julep emulator: {len(julep.state.executions)}")
        run = example_labelbox_dag.test(run_conf={"exports": (OUTPUT / "labelbox").as_uri()})
        ok = show(run, "count_labels", servers) and ok
        print(f"Tasks on the Labelbox emulator: {len(labelbox.state.tasks)}")
        run = example_avala_dag.test(run_conf={"exports": (OUTPUT / "avala").as_uri()})
        ok = show(run, "read_export", servers) and ok
        print(
            f"Exports and auto-label jobs on the Avala emulator: {len(avala.state.exports)}, {len(avala.state.jobs)}"
        )
        if sys.stdin.isatty():
            input("\nThe emulators keep serving the run links above until you press Enter. ")
        return ok


if __name__ == "__main__":
    sys.exit(main())
