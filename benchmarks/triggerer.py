"""``make bench --mode triggerer``: N deferred tasks of each provider in one real Airflow triggerer.

One Airflow (``scripts/airflow_cluster.py``: LocalExecutor, a throw-away PostgreSQL, ONE triggerer with a
capacity of the largest N) runs the DAGs in ``benchmarks/dags`` against the bench server over TLS. For each
provider in turn, and each N: one task warms the triggerer up (its first run of the provider's trigger imports
its modules); the idle triggerer is measured; the DAG is triggered with N mapped tasks, whose runs the server
holds running; once all N are deferred and each trigger has polled, the triggerer's CPU and memory (every
process of its session: Airflow 3.3 runs the triggers in a ``TriggerRunner`` subprocess) and the server's
counters are taken over a window of polls; then the batch is released (runs end over ``END_WINDOW``) and the
tasks' ends are read from the REST API.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from benchmarks.waits import ACCOUNT, percentile

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))  # the deployment helpers the cluster tests use

from airflow_cluster import AirflowCluster  # noqa: E402
from postgres_server import PostgresServer  # noqa: E402

DAGS = Path(__file__).resolve().parent / "dags"
PAGE = os.sysconf("SC_PAGE_SIZE")
TICK = os.sysconf("SC_CLK_TCK")
# Airflow 3.3's watchdog line (TriggerRunner.block_watchdog), logged when the loop slept 0.1 s and woke up
# more than [triggerer] blocked_main_thread_warning_threshold (0.2 s) later.
BLOCKED = "Triggerer's async thread was blocked for"
WINDOW_POLLS = 3  # polls per trigger in the measured window: enough to average over the jitter of each
END_WINDOW = (0.5, 2.0)  # runs end this many poll intervals after the release: spread, as real runs end
TASK = "wait"
PROVIDERS = ("ours", "databricks", "dbt")  # a DAG each in benchmarks/dags (ours polls: no streamed project)


class Triggerer:
    """The triggerer's processes (the component and its session), read from /proc."""

    def __init__(self, cluster: AirflowCluster) -> None:
        self.pid = cluster.processes["triggerer-1"].pid

    def pids(self) -> list[int]:
        return [self.pid, *AirflowCluster.children(self.pid)]

    def cpu_seconds(self) -> float:
        total = 0
        for pid in self.pids():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # ended between the listing and the read
            total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / TICK

    def rss(self) -> int:
        total = 0
        for pid in self.pids():
            try:
                total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
            except OSError:
                continue
        return total


def connections(url: str, ca: Path) -> dict[str, str]:
    """The three providers' connections, as AIRFLOW_CONN_* variables, all on the bench server over TLS."""
    host_port = url.split("://", 1)[1]
    host, port = host_port.split(":")
    ours = {
        "conn_type": "remote_tasks_flyte",
        "host": url,
        "extra": {
            "access_token": "bench-token",
            "auth_header": "authorization",
            "org": "bench",
            "project": "flytesnacks",
            "domain": "development",
            "ca_bundle": str(ca),
        },
    }
    databricks = {
        "conn_type": "databricks",
        "host": host,
        "port": int(port),
        "schema": "https",
        "password": "dapi-bench-token",
    }
    dbt = {"conn_type": "dbt_cloud", "host": host_port, "login": str(ACCOUNT), "password": "dbt-token"}
    return {
        f"AIRFLOW_CONN_BENCH_{name.upper()}": json.dumps(conn)
        for name, conn in (("ours", ours), ("databricks", databricks), ("dbt", dbt))
    }


class Bench:
    """One Airflow and one bench server, measured provider by provider."""

    def __init__(self, cluster: AirflowCluster, url: str, ca: Path, poll: float, log: Path) -> None:
        self.cluster, self.url, self.ca, self.poll = cluster, url, ca, poll
        self.triggerer = Triggerer(cluster)
        self.log = log

    def server(self, method: str, path: str, **kwargs: Any) -> Any:
        answer = httpx.request(method, f"{self.url}{path}", verify=str(self.ca), timeout=60, **kwargs)
        return answer.raise_for_status().json()

    def start(self, provider: str, batch: str, n: int) -> str:
        return self.cluster.trigger(f"bench_{provider}", {"batch": batch, "n": n})

    def wait_for(self, dag_id: str, run_id: str, state: str, n: int, seconds: float) -> None:
        """Until ``n`` tasks are in ``state``. :raises AssertionError: one failed, or it took too long."""

        def reached() -> bool:
            failed = self.cluster.count_tasks(dag_id, run_id, "failed")
            if failed or self.cluster.count_tasks(dag_id, run_id, "upstream_failed"):
                raise AssertionError(f"{failed} task(s) of {dag_id} failed; see the logs in {self.log}")
            return self.cluster.count_tasks(dag_id, run_id, state) >= n

        self.cluster.wait_until(reached, seconds, f"{n} tasks of {dag_id} to be {state}", every=2)

    def warm_up(self, provider: str) -> None:
        """One task, deferred and resumed: the provider's trigger modules are imported before the baseline."""
        dag_id, batch = f"bench_{provider}", f"warm-{provider}"
        run_id = self.start(provider, batch, 1)
        self.wait_for(dag_id, run_id, "deferred", 1, 300)
        self.server("POST", "/_release", json={"batch": batch, "low": 0, "high": 0})
        self.cluster.wait_for_run(dag_id, run_id, 300)

    def idle(self, seconds: float) -> tuple[float, int]:
        """The idle triggerer's CPU seconds per second and its RSS."""
        cpu, started = self.triggerer.cpu_seconds(), time.monotonic()
        samples = []
        while time.monotonic() - started < seconds:
            samples.append(self.triggerer.rss())
            time.sleep(1)
        return (self.triggerer.cpu_seconds() - cpu) / (time.monotonic() - started), int(
            statistics.median(samples)
        )

    def restart(self) -> None:
        """A fresh triggerer: memory another provider's triggers freed stays in the process's allocator, and
        would be reused by the next provider's, which would then seem to add less."""
        self.cluster.kill("triggerer-1", signal.SIGTERM)
        self.cluster.start_component("triggerer-1")
        self.triggerer = Triggerer(self.cluster)

    def measure(self, provider: str, n: int) -> dict[str, Any]:
        """One provider at N: the row of the report. :raises AssertionError: a task failed or a wait timed out."""
        self.restart()
        self.warm_up(provider)
        dag_id, batch = f"bench_{provider}", f"{provider}-{n}"
        idle_rate, idle_rss = self.idle(max(2 * self.poll, 10.0))
        log_from = len(self.cluster.log_text("triggerer-1"))
        before = self.server("GET", "/_stats")
        started = time.monotonic()
        run_id = self.start(provider, batch, n)
        # Each task starts in a worker process: LocalExecutor on two cores starts a few a second.
        self.wait_for(dag_id, run_id, "deferred", n, 300 + 3 * n)
        deferred_after = time.monotonic() - started
        time.sleep(self.poll * 1.2 + 2)  # every trigger has made its first poll (jitter: ±10 %)
        window_start = self.server("GET", "/_stats")
        cpu_start, window_from = self.triggerer.cpu_seconds(), time.monotonic()
        log_window = len(self.cluster.log_text("triggerer-1"))
        rss_samples = []
        while time.monotonic() - window_from < WINDOW_POLLS * self.poll:
            rss_samples.append(self.triggerer.rss())
            time.sleep(0.5)
        window = time.monotonic() - window_from
        cpu = self.triggerer.cpu_seconds() - cpu_start
        window_end = self.server("GET", "/_stats")
        # In the window only the triggerer works; while tasks start or resume, worker processes take both
        # cores, and the loop may be starved whatever its triggers do.
        blocked_window = self.cluster.log_text("triggerer-1")[log_window:].count(BLOCKED)

        low, high = (share * self.poll for share in END_WINDOW)
        released = self.server("POST", "/_release", json={"batch": batch, "low": low, "high": high})
        self.cluster.wait_for_run(dag_id, run_id, 300 + 2 * n)
        after = self.server("GET", "/_stats")
        ends = {int(index): end for index, end in released["ends"].items()}
        resumed = {
            ti["map_index"]: ti
            for ti in self.cluster.task_instances(dag_id, run_id, limit=n + 10)
            if ti["task_id"] == TASK and ti["end_date"] and ti["scheduled_when"]
        }
        delays = [_epoch(resumed[i]["end_date"]) - end for i, end in ends.items() if i in resumed]
        # Airflow sets scheduled_when when it handles the trigger's event (Trigger.submit_event): the
        # triggerer's part, before the executor's queue and a worker's start
        events = [_epoch(resumed[i]["scheduled_when"]) - end for i, end in ends.items() if i in resumed]
        polls = window_end["reads"] - window_start["reads"]
        net_cpu = max(cpu - idle_rate * window, 0.0)
        return {
            "provider": provider,
            "n": n,
            "completed": len(delays),
            "seconds_to_defer_all": round(deferred_after, 1),
            "idle_rss_mb": round(idle_rss / 1e6, 1),
            "idle_cpu_per_second": round(idle_rate, 4),
            "rss_kb_per_task": round((statistics.median(rss_samples) - idle_rss) / n / 1000, 1),
            # the peak too: a trigger that builds a client per poll holds it only while it polls
            "rss_peak_kb_per_task": round((max(rss_samples) - idle_rss) / n / 1000, 1),
            "window_seconds": round(window, 1),
            "cpu_seconds_window": round(net_cpu, 3),
            "polls_window": polls,
            "cpu_ms_per_poll": round(net_cpu / polls * 1000, 3) if polls else None,
            "calls_window": _calls(window_end) - _calls(window_start),
            "connections_window": window_end["connections"] - window_start["connections"],
            "calls_total": _calls(after) - _calls(before),
            "connections_total": after["connections"] - before["connections"],
            "blocked_warnings_window": blocked_window,
            "blocked_warnings": self.cluster.log_text("triggerer-1")[log_from:].count(BLOCKED),
            "end_to_event_s": {
                "p50": round(percentile(events, 0.50), 2),
                "p99": round(percentile(events, 0.99), 2),
            },
            "end_to_resume_s": {
                "p50": round(percentile(delays, 0.50), 2),
                "p99": round(percentile(delays, 0.99), 2),
            },
            # from the release to the last task's end; the runs themselves end within END_WINDOW of it
            "drain_seconds": round(
                max(_epoch(ti["end_date"]) for ti in resumed.values()) - released["released_at"], 1
            )
            if resumed
            else None,
        }


def _calls(stats: dict[str, Any]) -> int:
    return sum(count for name, count in stats["calls"].items() if name != "unknown")


def _epoch(stamp: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def run(providers: list[str], sizes: list[int], poll: float, logs: Path) -> list[dict[str, Any]]:
    """Every (N, provider) row; a row that failed says why and where its logs are."""
    from benchmarks.run import Server, certificates

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="remote-tasks-bench-") as workdir:
        ca, chain = certificates(Path(workdir))
        server = Server(chain, logs / "server-triggerer.log")
        postgres = PostgresServer()
        home = logs / "airflow"
        env = {
            **connections(server.url, ca),
            "REMOTE_TASKS_BENCH_POLL": str(poll),
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
            # aiohttp (both anchors' triggers) trusts what OpenSSL's paths name, requests (their hooks in
            # the worker) its own bundle variable; ours names the CA in its connection.
            "SSL_CERT_FILE": str(ca),
            "REQUESTS_CA_BUNDLE": str(ca),
            "AIRFLOW__TRIGGERER__CAPACITY": str(max(sizes) + 10),
            "AIRFLOW__CORE__MAX_MAP_LENGTH": str(max(sizes) + 10),
            "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": str(max(sizes) + 10),
        }
        cluster = AirflowCluster(home, DAGS, env, database_url=postgres.start().url, triggerers=1)
        try:
            cluster.start()
            bench = Bench(cluster, server.url, ca, poll, home / "logs")
            for n in sizes:
                for provider in providers:
                    print(f"triggerer N={n:,} {provider} ...", end=" ", flush=True)
                    try:
                        row = bench.measure(provider, n)
                    except AssertionError as error:
                        row = {"provider": provider, "n": n, "error": str(error).splitlines()[0]}
                    rows.append(row)
                    with (logs / "triggerer-rows.jsonl").open("a") as kept:  # kept if the run is stopped
                        kept.write(json.dumps(row) + "\n")
                    print(row.get("error") or f"{row['drain_seconds']} s to drain", flush=True)
        finally:
            cluster.stop()
            postgres.stop()
            server.stop()
    return rows
