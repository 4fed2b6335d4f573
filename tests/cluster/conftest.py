"""The real Airflow of the cluster tests: on a throw-away PostgreSQL, with two triggerers, against emulators that
live as long as the session. Its executor is ``REMOTE_TASKS_CLUSTER_EXECUTOR``'s: ``celery`` (two schedulers, two
Celery workers, a throw-away Redis broker) or ``local`` (one scheduler with LocalExecutor)."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from airflow_cluster import AirflowCluster
from postgres_server import PostgresServer
from redis_server import RedisServer

from airflow_remote_tasks.emulators.avala import AvalaEmulator
from airflow_remote_tasks.emulators.flyte import FlyteEmulator
from airflow_remote_tasks.emulators.julep import DEMO_AGENT_ID, JulepEmulator
from airflow_remote_tasks.emulators.labelbox import LabelboxEmulator
from airflow_remote_tasks.emulators.server import ServerThread
from support import AVALA_KEY, CLUSTER_CLIENT_SECRET, CLUSTER_DAGS, JULEP_KEY, LABELBOX_KEY, cluster_api_key


@pytest.fixture(scope="session")
def flyte_emulator() -> Iterator[tuple[FlyteEmulator, str]]:
    emulator = FlyteEmulator(
        queue_seconds=0.2, run_seconds=1.0, client_id="airflow-cluster", client_secret=CLUSTER_CLIENT_SECRET
    )
    with ServerThread(emulator.app) as server:
        yield emulator, server.url


@pytest.fixture(scope="session")
def labelbox_emulator() -> Iterator[tuple[LabelboxEmulator, str]]:
    emulator = LabelboxEmulator(api_key=LABELBOX_KEY, task_seconds=3.0, chunk_bytes=700)
    with ServerThread(emulator.app) as server:
        yield emulator, server.url + "/graphql"


@pytest.fixture(scope="session")
def julep_emulator() -> Iterator[tuple[JulepEmulator, str]]:
    emulator = JulepEmulator(api_key=JULEP_KEY)
    with ServerThread(emulator.app) as server:
        yield emulator, server.url


@pytest.fixture(scope="session")
def avala_emulator() -> Iterator[tuple[AvalaEmulator, str]]:
    emulator = AvalaEmulator(api_key=AVALA_KEY)
    with ServerThread(emulator.app) as server:
        yield emulator, server.url


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A throw-away PostgreSQL server (Debian's binaries: `make postgresql`), stopped by PID at the end."""
    with PostgresServer() as server:
        yield server


# The deployment the cluster tests run on.
EXECUTOR = os.environ.get("REMOTE_TASKS_CLUSTER_EXECUTOR", "local")


@pytest.fixture(scope="session")
def redis() -> Iterator[RedisServer | None]:
    """The Celery broker (Debian's redis-server: `make redis`), recording every command it gets for the
    secrets scan; None with LocalExecutor."""
    if EXECUTOR != "celery":
        yield None
        return
    server = RedisServer().start(record_commands=True)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def airflow(
    flyte_emulator, labelbox_emulator, julep_emulator, avala_emulator, postgres, redis
) -> Iterator[AirflowCluster]:
    """A real Airflow on PostgreSQL with two triggerers (and, on Celery, two schedulers and two workers), as
    teams run it beyond one machine."""
    _, url = flyte_emulator
    home = Path(tempfile.mkdtemp(prefix="remote-tasks-cluster-"))
    connection = json.dumps({"conn_type": "remote_tasks_flyte", "password": cluster_api_key(url) + "\n"})
    labelbox = json.dumps(
        {"conn_type": "remote_tasks_labelbox", "host": labelbox_emulator[1], "password": LABELBOX_KEY}
    )
    julep = json.dumps(
        {
            "conn_type": "remote_tasks_julep",
            "host": julep_emulator[1] + "/api",
            "password": JULEP_KEY,
            "extra": {"agent_id": DEMO_AGENT_ID},
        }
    )
    avala = json.dumps(
        {"conn_type": "remote_tasks_avala", "host": avala_emulator[1] + "/api/v1", "password": AVALA_KEY}
    )
    cluster = AirflowCluster(
        home,
        CLUSTER_DAGS,
        {
            "AIRFLOW_CONN_FLYTE_DEFAULT": connection,
            "AIRFLOW_CONN_LABELBOX_DEFAULT": labelbox,
            "AIRFLOW_CONN_JULEP_DEFAULT": julep,
            "AIRFLOW_CONN_AVALA_DEFAULT": avala,
            # The DAG processor checks a Labelbox labels watcher's poll interval against it and the triggerers
            # again: one second, as short as the other watchers', so that the event tests wait on no export.
            "AIRFLOW__REMOTE_TASKS__COSTLY_WATCH_MIN_POLL_INTERVAL": "1",
        },
        database_url=postgres.url,
        triggerers=2,
        executor=EXECUTOR,
        broker_url=redis.url if redis else "",
    )
    try:
        yield cluster.start()
    finally:
        cluster.stop()


@pytest.fixture(autouse=True)
def no_dag_run_left_going(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test that failed midway may leave its DAG run going; it is marked failed at the end, so that its tasks
    do not hold the executor's slots and the triggerers while the next tests run (a passing test leaves none)."""
    yield
    if "airflow" not in request.fixturenames:
        return
    cluster: AirflowCluster = request.getfixturevalue("airflow")
    for run in cluster.api("GET", "dags/~/dagRuns", params={"state": "running", "limit": 100})["dag_runs"]:
        cluster.api("PATCH", f"dags/{run['dag_id']}/dagRuns/{run['dag_run_id']}", json={"state": "failed"})
