"""A real Airflow on loopback: API server, scheduler, DAG processor and one or more triggerers, on LocalExecutor
or on CeleryExecutor (a Redis broker, two schedulers, two ``airflow celery worker`` processes).

Each component is its own process, started from this environment, logging to ``<home>/logs/<name>.log``.
It is driven only through Airflow's public REST API, and stops what it started by PID. Used by the tests
(``tests/cluster/test_real_airflow.py``: PostgreSQL, two triggerers) and by ``make airflow``. The metadata database is
the one ``database_url`` names (``postgres_server.PostgresServer`` starts a throw-away one), or SQLite in the
home: enough for one triggerer and a first look, not for production.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

SERVICES = ("api-server", "scheduler", "dag-processor")
# What each executor adds to SERVICES: CeleryExecutor as teams run it beyond one machine, with a second scheduler
# (Airflow's HA scheduler on PostgreSQL) and two workers; LocalExecutor runs tasks in the scheduler's processes.
EXECUTOR_COMPONENTS = {
    "local": (),
    "celery": ("scheduler-2", "celery-worker-1", "celery-worker-2"),
}
EXECUTOR_CLASSES = {"local": "LocalExecutor", "celery": "CeleryExecutor"}
# Task slots per Celery worker: with two workers, as many as LocalExecutor's parallelism gives one scheduler.
CELERY_WORKER_CONCURRENCY = 8
TERMINAL_RUN_STATES = {"success", "failed"}
# Shared by every component, or tokens from one are refused by another; 64 bytes as SHA-512 wants.
JWT_SECRET = "remote-tasks-local-airflow-only-" + "0123456789abcdef" * 2


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def celery_settings(broker_url: str, database_url: str) -> dict[str, str]:
    """Airflow's settings for CeleryExecutor on a Redis broker, with task states kept in PostgreSQL."""
    return {
        "AIRFLOW__CELERY__BROKER_URL": broker_url,
        # SQLAlchemy 2.1 takes a bare postgresql:// to mean psycopg 3, which is not installed: name psycopg2.
        "AIRFLOW__CELERY__RESULT_BACKEND": "db+postgresql+psycopg2://" + database_url.split("://", 1)[1],
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(CELERY_WORKER_CONCURRENCY),
        # A message a killed worker had taken (prefetched, not started) goes back on the queue after this long,
        # not after the 24 h default; a longer task's message comes back too, and its second delivery is
        # dropped by Airflow (the task instance is already running).
        "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT": "30",
        # A message lost with a killed worker (taken, not yet marked unacknowledged) leaves its task queued: sent
        # again after 90 s (queued tasks wait briefly otherwise: the schedulers' parallelism is the workers' slots).
        "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "90",
        "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT_CHECK_INTERVAL": "10",
        # A task whose worker died (no heartbeat) is failed, and retried, after 30 s instead of 5 minutes.
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "30",
    }


class AirflowCluster:
    def __init__(
        self,
        home: Path,
        dags_folder: Path,
        env: Mapping[str, str] | None = None,
        *,
        port: int = 0,
        login: tuple[str, str] = ("admin", "admin"),
        database_url: str | None = None,
        triggerers: int = 1,
        executor: str = "local",
        broker_url: str = "",
    ) -> None:
        """:raises ValueError: an executor other than ``local`` or ``celery``, or ``celery`` without a broker
        URL or a PostgreSQL ``database_url`` (the result backend and the second scheduler need one)."""
        if executor not in EXECUTOR_CLASSES:
            raise ValueError(f"executor {executor!r}: use one of {', '.join(EXECUTOR_CLASSES)}")
        if executor == "celery" and not (broker_url and (database_url or "").startswith("postgresql")):
            raise ValueError("executor 'celery' needs broker_url (a Redis server) and a PostgreSQL database")
        self.home = home
        self.executor = executor
        self.components = [
            *SERVICES,
            *EXECUTOR_COMPONENTS[executor],
            *(f"triggerer-{n}" for n in range(1, triggerers + 1)),
        ]
        self.port = port or free_port()
        self.login = login
        self.url = f"http://127.0.0.1:{self.port}"
        self.logs = home / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.env = {
            **os.environ,
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": EXECUTOR_CLASSES[executor],
            "AIRFLOW__CORE__PARALLELISM": "8",
            "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "256",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{login[0]}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
            "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__API__BASE_URL": self.url,
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API_AUTH__JWT_SECRET": JWT_SECRET,
            "AIRFLOW__API__SECRET_KEY": "remote-tasks-test-cluster-secret",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "10",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
            "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "600",
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
            # a restarted triggerer takes over a dead one's triggers after this long
            "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "10",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            **({"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database_url} if database_url else {}),
            **(celery_settings(broker_url, database_url or "") if executor == "celery" else {}),
            **(env or {}),
        }
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.job_ids: dict[str, int] = {}  # each triggerer's job id, as its triggers' rows name it
        self._token = ""

    # -- processes -----------------------------------------------------------------------------

    def airflow(self, *args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [sys.executable, "-m", "airflow", *args], env=self.env, check=True, capture_output=True
        )

    def start(self) -> AirflowCluster:
        (self.home / "passwords.json").write_text(json.dumps({self.login[0]: self.login[1]}))
        self.airflow("db", "migrate")
        for name in SERVICES:
            self.start_component(name)
        self.wait_until(self._healthy, 120, "the API server to answer")
        for name in self.components[len(SERVICES) :]:
            self.start_component(name)
        return self

    def start_component(self, name: str) -> None:
        """Start one component; a triggerer (``triggerer-<n>``) is waited for until its job is alive, a Celery
        worker (``celery-worker-<n>``) until it answers a ping."""
        command, env, known = [name], self.env, set()
        if name.startswith("triggerer-"):
            # Each triggerer serves its trigger logs on a port of its own, as on separate machines.
            command, env = (
                ["triggerer"],
                {**env, "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port())},
            )
            known = {job["id"] for job in self.triggerer_jobs()}
        elif name.startswith("scheduler-"):
            command = ["scheduler"]
        elif name.startswith("celery-worker-"):
            # Each worker serves its task logs on a port of its own (one port for two would fail the second).
            command = [
                "celery",
                "worker",
                "--celery-hostname",
                f"{name}@%h",
                "--pid",
                str(self.home / f"{name}.pid"),
            ]
            env = {**env, "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port())}
        log = (self.logs / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(
            [sys.executable, "-m", "airflow", *command],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # a SIGINT to the test run does not reach Airflow first
        )
        if command == ["triggerer"]:
            self.job_ids[name] = self.wait_until(
                lambda: max((j["id"] for j in self.triggerer_jobs() if j["id"] not in known), default=0),
                120,
                f"{name} to start its job",
            )
        elif command[0] == "celery":
            # Celery writes "<name>@<host> ready." once the worker consumes from the queue.
            start = log.tell()
            self.wait_until(
                lambda: f"{name}@" in (text := self.log_text(name)[start:]) and " ready." in text,
                120,
                f"{name} to be ready",
                every=1,
            )

    def pause(self, name: str) -> None:
        """Stop a component and what it started (SIGSTOP), as a stopped container or a frozen VM would."""
        self._signal(self.processes[name].pid, signal.SIGSTOP)

    def resume(self, name: str) -> None:
        self._signal(self.processes[name].pid, signal.SIGCONT)

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Kill one component by its PID, and the processes it started (its session), as a crash would."""
        process = self.processes.pop(name)
        self._signal(process.pid, sig)
        process.wait(timeout=30)

    def _signal(self, pid: int, sig: int) -> None:
        for target in [*self.children(pid), pid]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(target, sig)

    @staticmethod
    def children(pid: int) -> list[int]:
        """Every process in ``pid``'s session (what a component spawned), found through /proc."""
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == pid:
                continue
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[3]) == pid:  # session id
                found.append(int(entry.name))
        return found

    def task_processes(self, ti_id: str) -> list[int]:
        """The process running one task instance's code (``airflow worker -- <ti id>``, in the session of the
        scheduler with LocalExecutor, of a Celery worker with CeleryExecutor)."""
        found = []
        prefix = "celery-worker-" if self.executor == "celery" else "scheduler"
        hosts = [process.pid for name, process in self.processes.items() if name.startswith(prefix)]
        for pid in (child for host in hosts for child in self.children(host)):
            try:
                command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if (
                command.startswith("airflow worker -- ")
                and ti_id in command
                and "LocalExecutor" not in command
            ):
                found.append(pid)
        return found

    def peak_memory_kib(self, name: str) -> int:
        """VmHWM of a component and every process of its session."""
        process = self.processes[name]
        total = 0
        for pid in [process.pid, *self.children(process.pid)]:
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        total += int(line.split()[1])
            except OSError:
                continue
        return total

    def stop(self) -> None:
        stopping = [self.processes.pop(name) for name in list(self.processes)]
        for process in stopping:
            self._signal(process.pid, signal.SIGCONT)  # a paused one could not act on SIGTERM
            self._signal(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for process in stopping:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            self._signal(process.pid, signal.SIGKILL)  # whatever did not stop in time
            process.wait(timeout=10)

    def log_text(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def log_tail(self, name: str, lines: int = 40) -> str:
        return "\n".join(self.log_text(name).splitlines()[-lines:])

    # -- REST API ------------------------------------------------------------------------------

    def _healthy(self) -> bool:
        try:
            return httpx.get(f"{self.url}/api/v2/monitor/health", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        if not self._token:
            user, password = self.login
            answer = httpx.post(
                f"{self.url}/auth/token", json={"username": user, "password": password}, timeout=10
            )
            self._token = answer.raise_for_status().json()["access_token"]
        response = httpx.request(
            method,
            f"{self.url}/api/v2/{path.lstrip('/')}",
            headers={"Authorization": f"Bearer {self._token}"},
            timeout=30,
            **kwargs,
        )
        if response.status_code == 401:
            self._token = ""
            return self.api(method, path, **kwargs)
        response.raise_for_status()
        return response.json() if response.content else None

    def wait_until(self, check: Any, seconds: float, what: str, every: float = 0.5) -> Any:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            value = check()
            if value:
                return value
            time.sleep(every)
        raise AssertionError(
            f"timed out after {seconds}s waiting for {what}\n"
            + "\n".join(f"--- {name} ---\n{self.log_tail(name)}" for name in self.components)
        )

    def unpause(self, dag_id: str) -> None:
        def parsed() -> bool:
            try:
                self.api("GET", f"dags/{dag_id}")
            except httpx.HTTPStatusError:
                return False
            return True

        self.wait_until(parsed, 180, f"the DAG processor to parse {dag_id}", every=1)
        self.api("PATCH", f"dags/{dag_id}", json={"is_paused": False})

    def trigger(self, dag_id: str, conf: Mapping[str, Any] | None = None) -> str:
        self.unpause(dag_id)
        run = self.api(
            "POST", f"dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": dict(conf or {})}
        )
        return str(run["dag_run_id"])

    def run_state(self, dag_id: str, run_id: str) -> str:
        return str(self.api("GET", f"dags/{dag_id}/dagRuns/{run_id}")["state"])

    def wait_for_run(self, dag_id: str, run_id: str, seconds: float = 300) -> str:
        return str(
            self.wait_until(
                lambda: (state := self.run_state(dag_id, run_id)) in TERMINAL_RUN_STATES and state,
                seconds,
                f"run {run_id} of {dag_id} to finish",
                every=1,
            )
        )

    def triggerer_jobs(self) -> list[dict[str, Any]]:
        """The triggerers' jobs that are running, newest first."""
        body = self.api(
            "GET",
            "jobs",
            params={"job_type": "TriggererJob", "job_state": "running", "order_by": "-id", "limit": 100},
        )
        return list(body["jobs"])

    def task_instances(
        self, dag_id: str, run_id: str, limit: int = 100, state: str | None = None
    ) -> list[dict[str, Any]]:
        """Every task instance of a run (in ``state``), page by page (the API returns at most 100 at a time)."""
        found: list[dict[str, Any]] = []
        while True:
            params: dict[str, Any] = {"limit": 100, "offset": len(found)}
            if state:
                params["state"] = state
            body = self.api("GET", f"dags/{dag_id}/dagRuns/{run_id}/taskInstances", params=params)
            found += body["task_instances"]
            if not body["task_instances"] or len(found) >= min(limit, body["total_entries"]):
                return found

    def count_tasks(self, dag_id: str, run_id: str, state: str) -> int:
        body = self.api(
            "GET", f"dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"state": state, "limit": 1}
        )
        return int(body["total_entries"])

    def task_instance(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> dict[str, Any]:
        for ti in self.task_instances(dag_id, run_id):
            if ti["task_id"] == task_id and ti["map_index"] == map_index:
                return ti
        return {}

    def task_state(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> str | None:
        return self.task_instance(dag_id, run_id, task_id, map_index).get("state")

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
        body = self.api(
            "GET",
            f"dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}",
            params={"deserialize": True, "stringify": False},
        )
        return body["value"]
