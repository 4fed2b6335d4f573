"""Test setup: a throw-away Airflow home (SQLite) for `dag.test()` and emulators on loopback, one per test
(the cluster tests' real Airflow is in ``cluster/conftest.py``)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator

import pytest

from support import AVALA_KEY, JULEP_KEY, LABELBOX_KEY, ROOT, TI, set_connection

# Airflow reads its configuration at import: set it before anything imports airflow.
_HOME = tempfile.mkdtemp(prefix="remote-tasks-tests-")
os.environ.update(
    AIRFLOW_HOME=_HOME,
    AIRFLOW__CORE__LOAD_EXAMPLES="False",
    AIRFLOW__CORE__DAGS_FOLDER=str(ROOT / "tests" / "dags"),
    AIRFLOW__CORE__UNIT_TEST_MODE="False",
)
sys.path.insert(0, str(ROOT / "example_dags"))
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT))  # the benchmarks package


from airflow_remote_tasks.emulators.avala import AvalaEmulator  # noqa: E402
from airflow_remote_tasks.emulators.flyte import FlyteEmulator  # noqa: E402
from airflow_remote_tasks.emulators.julep import DEMO_AGENT_ID, JulepEmulator  # noqa: E402
from airflow_remote_tasks.emulators.labelbox import LabelboxEmulator  # noqa: E402
from airflow_remote_tasks.emulators.server import ServerThread  # noqa: E402


@pytest.fixture(autouse=True)
def fresh_connections() -> Iterator[None]:
    """Each test points connection ids at its own emulator: no platform read by an earlier test is reused."""
    from airflow_remote_tasks.hooks.base import forget_connections

    forget_connections()
    yield
    forget_connections()


class Supervisor:
    """Stands in for the triggerer's supervisor, which a trigger asks for its task instance's state
    (``SUPERVISOR_COMMS``); the real one answers in the cluster tests (test_real_airflow.py)."""

    def __init__(self) -> None:
        self.state: str | None = "failed"
        self.answer: dict[str, str | None] | None = None  # task states by key, when not just TI's
        self.asked: list[object] = []
        self.fails = False

    async def asend(self, message: object) -> object:
        from airflow.sdk.execution_time.comms import TaskStatesResult

        self.asked.append(message)
        await asyncio.sleep(0.05)  # the supervisor's round trip, during which others ask too
        if self.fails:
            raise ConnectionResetError("supervisor gone")
        states = self.answer if self.answer is not None else {TI.task_id: self.state}
        return TaskStatesResult(task_states={TI.run_id: states})


@pytest.fixture
def supervisor(monkeypatch: pytest.MonkeyPatch) -> Supervisor:
    """A task instance's state as the triggerer's supervisor reports it (``"failed"`` unless set)."""
    from airflow.sdk.execution_time import task_runner

    fake = Supervisor()
    monkeypatch.setattr(task_runner, "SUPERVISOR_COMMS", fake, raising=False)
    return fake


@pytest.fixture(scope="session")
def airflow_db() -> str:
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)
    return _HOME


class RunningFlyte:
    def __init__(self, emulator: FlyteEmulator, server: ServerThread) -> None:
        self.emulator = emulator
        self.server = server
        self.url = server.url

    @property
    def runs(self) -> list[dict[str, object]]:
        return self.emulator.state.summary()

    def runs_of(self, task: str) -> list[dict[str, object]]:
        return [r for r in self.runs if r["task"] == task]

    def connect(self, conn_id: str = "flyte_default", **fields: object) -> None:
        """Point an Airflow connection (through its environment variable) at this emulator."""
        extra = {k: v for k, v in fields.items() if k not in ("host", "password", "login")}
        conn = {"conn_type": "remote_tasks_flyte", "host": fields.get("host", self.url), "extra": extra}
        for key in ("password", "login"):
            if key in fields:
                conn[key] = fields[key]
        os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(conn)


@pytest.fixture
def flyte() -> Iterator[RunningFlyte]:
    """A fresh emulator per test: run counts and faults never leak between tests."""
    emulator = FlyteEmulator(queue_seconds=0.1, run_seconds=0.4)
    with ServerThread(emulator.app) as server:
        running = RunningFlyte(emulator, server)
        running.connect()
        yield running
    os.environ.pop("AIRFLOW_CONN_FLYTE_DEFAULT", None)


@pytest.fixture
def flyte_with_auth() -> Iterator[RunningFlyte]:
    emulator = FlyteEmulator(
        queue_seconds=0.1,
        run_seconds=0.4,
        client_id="airflow",
        client_secret="s3cr3t-VALUE-42",
        auth_header="flyte-authorization",
    )
    with ServerThread(emulator.app) as server:
        yield RunningFlyte(emulator, server)
    os.environ.pop("AIRFLOW_CONN_FLYTE_DEFAULT", None)


class RunningJulep:
    def __init__(self, emulator: JulepEmulator, server: ServerThread) -> None:
        self.emulator = emulator
        self.server = server
        self.url = server.url + "/api"

    @property
    def executions(self) -> list[dict[str, object]]:
        return self.emulator.state.summary()

    def connect(self, conn_id: str = "julep_default", **fields: object) -> None:
        extra = {
            "agent_id": DEMO_AGENT_ID,
            **{k: v for k, v in fields.items() if k not in ("host", "password")},
        }
        host, password = str(fields.get("host", self.url)), str(fields.get("password", JULEP_KEY))
        set_connection(conn_id, "remote_tasks_julep", host, password, extra)


@pytest.fixture
def julep() -> Iterator[RunningJulep]:
    """A fresh Julep emulator per test, recording every exchange for the OpenAPI checks."""
    emulator = JulepEmulator(api_key=JULEP_KEY, step_seconds=0.05, record_exchanges=True)
    with ServerThread(emulator.app) as server:
        running = RunningJulep(emulator, server)
        running.connect()
        yield running
    os.environ.pop("AIRFLOW_CONN_JULEP_DEFAULT", None)


class RunningLabelbox:
    def __init__(self, emulator: LabelboxEmulator, server: ServerThread) -> None:
        self.emulator = emulator
        self.server = server
        self.url = server.url + "/graphql"

    @property
    def tasks(self) -> list[dict[str, object]]:
        return self.emulator.state.summary()

    def connect(self, conn_id: str = "labelbox_default", **fields: object) -> None:
        extra = {k: v for k, v in fields.items() if k not in ("host", "password")}
        host, password = str(fields.get("host", self.url)), str(fields.get("password", LABELBOX_KEY))
        set_connection(conn_id, "remote_tasks_labelbox", host, password, extra)


@pytest.fixture
def labelbox() -> Iterator[RunningLabelbox]:
    emulator = LabelboxEmulator(api_key=LABELBOX_KEY, task_seconds=0.4, chunk_bytes=700)
    with ServerThread(emulator.app) as server:
        running = RunningLabelbox(emulator, server)
        running.connect()
        yield running
    os.environ.pop("AIRFLOW_CONN_LABELBOX_DEFAULT", None)


class RunningAvala:
    def __init__(self, emulator: AvalaEmulator, server: ServerThread) -> None:
        self.emulator = emulator
        self.server = server
        self.url = server.url + "/api/v1"

    def connect(self, conn_id: str = "avala_default", **fields: object) -> None:
        extra = {k: v for k, v in fields.items() if k not in ("host", "password")}
        host, password = str(fields.get("host", self.url)), str(fields.get("password", AVALA_KEY))
        set_connection(conn_id, "remote_tasks_avala", host, password, extra)


@pytest.fixture
def avala() -> Iterator[RunningAvala]:
    emulator = AvalaEmulator(api_key=AVALA_KEY, tasks=250, pace=0.004, job_seconds=0.6)
    with ServerThread(emulator.app) as server:
        running = RunningAvala(emulator, server)
        running.connect()
        yield running
    os.environ.pop("AIRFLOW_CONN_AVALA_DEFAULT", None)
