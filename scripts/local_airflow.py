"""`make airflow`: a full local Airflow with the emulators, to look around, run the examples, click run links.

Starts the emulators of all four platforms (Flyte 2 / Union, Julep, Labelbox, Avala) and Airflow (API server +
UI, scheduler, DAG processor, triggerer) on loopback, creates connections ``flyte_default``, ``julep_default``,
``labelbox_default`` and ``avala_default`` for the emulators, with run links pointing at the emulators' pages
(the UI's Test button works: ``[core] test_connection`` is enabled), and waits until Ctrl-C, then stops
everything.
The Airflow home is ``.airflow-local/`` in the repository, kept between runs with its SQLite database; with
``--db postgresql`` (``make airflow DB=postgresql``) the metadata goes to a throw-away PostgreSQL server instead,
and two triggerers share the triggers; with ``--executor celery`` (``make airflow EXECUTOR=celery``) tasks run on
CeleryExecutor, as in the cluster tests: PostgreSQL, a throw-away Redis broker, two schedulers, two Celery workers
and two triggerers.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path

from airflow_cluster import AirflowCluster, free_port
from postgres_server import PostgresServer
from redis_server import RedisServer

ROOT = Path(__file__).resolve().parent.parent
LOGIN = ("admin", "admin")


def port_or_free(wanted: int) -> int:
    import socket

    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", wanted))
        except OSError:
            return free_port()
    return wanted


def _interrupt(signum: int, frame: object) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second one must not cut the clean-up short
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--db",
        choices=["sqlite", "postgresql"],
        default="sqlite",
        help="metadata database: SQLite in the home (kept), or a throw-away PostgreSQL with two triggerers",
    )
    parser.add_argument(
        "--executor",
        choices=["local", "celery"],
        default="local",
        help="LocalExecutor, or CeleryExecutor on a throw-away Redis broker (PostgreSQL, two of each component)",
    )
    options = parser.parse_args(argv)
    celery = options.executor == "celery"
    if celery:
        options.db = "postgresql"  # the result backend and the second scheduler need it
    # A SIGTERM (a closed terminal, a supervisor) stops everything as Ctrl-C does, never leaving orphans.
    signal.signal(signal.SIGTERM, _interrupt)
    from airflow_remote_tasks.emulators.avala import AvalaEmulator
    from airflow_remote_tasks.emulators.flyte import FlyteEmulator
    from airflow_remote_tasks.emulators.julep import DEMO_AGENT_ID, JulepEmulator
    from airflow_remote_tasks.emulators.julep.pages import EXECUTION_LINK
    from airflow_remote_tasks.emulators.labelbox import LabelboxEmulator
    from airflow_remote_tasks.emulators.server import ServerThread

    home = ROOT / ".airflow-local"
    home.mkdir(exist_ok=True)
    julep_key = "any-key"  # the emulators accept any key
    flyte = ServerThread(FlyteEmulator(queue_seconds=2, run_seconds=8).app, port=port_or_free(8089)).start()
    julep = ServerThread(
        JulepEmulator(api_key=julep_key, step_seconds=1).app, port=port_or_free(8090)
    ).start()
    labelbox = ServerThread(LabelboxEmulator(task_seconds=5).app, port=port_or_free(8091)).start()
    avala = ServerThread(AvalaEmulator(pace=0.5, job_seconds=10).app, port=port_or_free(8092)).start()
    postgres = PostgresServer().start() if options.db == "postgresql" else None
    redis = RedisServer().start() if celery else None
    cluster = AirflowCluster(
        home,
        ROOT / "example_dags",
        {"AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING"},
        port=port_or_free(int(os.environ.get("AIRFLOW_PORT", "8080"))),
        login=LOGIN,
        database_url=postgres.url if postgres else None,
        triggerers=2 if postgres else 1,
        executor=options.executor,
        broker_url=redis.url if redis else "",
    )
    where = f"PostgreSQL on port {postgres.port}" if postgres else "SQLite"
    if redis:
        where += f"; CeleryExecutor, Redis on port {redis.port}"
    print(f"Starting Airflow in {home} ({where}; logs in {cluster.logs}) ...", flush=True)
    try:
        cluster.start()
        # Port apart from the host: Airflow 3.3.2's Test button refuses a connection without one
        # (it sends port 0 for a stored NULL; apache/airflow#73298).
        connections = {
            "flyte_default": {
                "conn_type": "remote_tasks_flyte",
                "host": "http://127.0.0.1",
                "port": flyte.port,
            },
            "julep_default": {
                "conn_type": "remote_tasks_julep",
                "host": "http://127.0.0.1/api",
                "port": julep.port,
                "password": julep_key,
                "extra": json.dumps(
                    {"agent_id": DEMO_AGENT_ID, "execution_link": julep.url + EXECUTION_LINK}
                ),
            },
            "labelbox_default": {
                "conn_type": "remote_tasks_labelbox",
                "host": "http://127.0.0.1/graphql",
                "port": labelbox.port,
                "password": "any-key",
                "extra": json.dumps({"app_url": labelbox.url}),
            },
            "avala_default": {
                "conn_type": "remote_tasks_avala",
                "host": "http://127.0.0.1/api/v1",
                "port": avala.port,
                "password": "avk_any",
                "extra": json.dumps({"app_url": avala.url}),
            },
        }
        existing = {c["connection_id"] for c in cluster.api("GET", "connections")["connections"]}
        for conn_id, fields in connections.items():
            body = {"connection_id": conn_id, **fields}
            if conn_id in existing:
                cluster.api("PATCH", f"connections/{conn_id}", json=body)
            else:
                cluster.api("POST", "connections", json=body)
        print(
            f"""
Airflow UI:      {cluster.url}   (login: {LOGIN[0]} / {LOGIN[1]})
Flyte emulator:  {flyte.url}     (connection flyte_default)
Julep emulator:  {julep.url}/api (connection julep_default, agent {DEMO_AGENT_ID})
Labelbox emulator: {labelbox.url}/graphql (connection labelbox_default)
Avala emulator:  {avala.url}/api/v1 (connection avala_default)

The example DAGs (example_flyte, example_julep, example_labelbox, example_avala) appear within a minute. Unpause one, trigger it, and open
a remote task's "Remote run" link. Ctrl-C stops everything.""",
            flush=True,
        )
        while all(p.poll() is None for p in cluster.processes.values()):
            time.sleep(1)
        print("An Airflow component exited; see the logs in", cluster.logs, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("Stopping Airflow and the emulators ...", flush=True)
        cluster.stop()
        if redis:
            redis.stop()
        if postgres:
            postgres.stop()
        for emulator in (flyte, julep, labelbox, avala):
            emulator.stop()


if __name__ == "__main__":
    sys.exit(main())
