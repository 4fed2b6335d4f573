"""N concurrent waits in one asyncio event loop, as Airflow's triggerer runs them, against the bench server.

Runs in a process of its own and prints one JSON object: memory, CPU, event-loop lag, calls, connections
and the time from each run's end to its trigger event. Every provider's trigger is built from the same
kwargs a deferring operator would store, gets its connection from an ``AIRFLOW_CONN_*`` variable, and is
iterated to exhaustion and cleaned up, like the triggerer does.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import random
import resource
import statistics
import sys
import time
from typing import Any
from urllib.parse import urlsplit

import httpx

from benchmarks.server import STREAMED_PROJECT, raise_fd_limit, run_id_for, run_name_for

# "ours-stream" is ours on the project whose runs the bench server streams (WatchRuns); "ours" polls.
PROVIDERS = ("ours", "ours-stream", "databricks", "dbt")
ACCOUNT = 4242
PAGE = os.sysconf("SC_PAGE_SIZE")
# How long the harness's own cost is measured idle: 3 s, or as long as the shortest run when that is shorter (a
# smoke run's runs end within seconds), but at least CALIBRATION_MIN_SECONDS (five of the watchdog's samples).
CALIBRATION_SECONDS = 3.0
CALIBRATION_MIN_SECONDS = 0.5


def connect(provider: str, url: str, ca: str | None) -> str:
    """Put the provider's connection into the environment; returns its conn id."""
    parts = urlsplit(url)
    if provider.startswith("ours"):
        extra: dict[str, Any] = {
            "access_token": "bench-token",
            "auth_header": "authorization",
            "org": "bench",
            "project": project_of(provider),
            "domain": "development",
        }
        if ca:
            extra["ca_bundle"] = ca
        conn: dict[str, Any] = {"conn_type": "remote_tasks_flyte", "host": url, "extra": extra}
    elif provider == "databricks":
        conn = {
            "conn_type": "databricks",
            "host": parts.hostname,
            "port": parts.port,
            "schema": parts.scheme,
            "password": "dapi-bench-token",
        }
    elif provider == "dbt":
        if parts.scheme != "https":
            raise SystemExit("the dbt Cloud hook always uses https")
        conn = {
            "conn_type": "dbt_cloud",
            "host": parts.netloc,
            "login": str(ACCOUNT),
            "password": "dbt-token",
        }
    else:
        raise SystemExit(f"unknown provider {provider!r}; one of {', '.join(PROVIDERS)}")
    conn_id = f"bench_{provider}"
    os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(conn)
    return conn_id


def project_of(provider: str) -> str:
    return STREAMED_PROJECT if provider == "ours-stream" else "flytesnacks"


def make_trigger(provider: str, conn_id: str, index: int, end: float, poll: float) -> Any:
    if provider.startswith("ours"):
        from airflow_remote_tasks.core.models import RunRef
        from airflow_remote_tasks.triggers.remote_run import RemoteRunTrigger

        scope = {"org": "bench", "project": project_of(provider), "domain": "development", "action": "a0"}
        ref = RunRef(platform="flyte", run_id=run_name_for(index, end), scope=scope)
        return RemoteRunTrigger(conn_id=conn_id, ref=ref.to_json(), poll_interval=poll)
    if provider == "databricks":
        from airflow.providers.databricks.triggers.databricks import DatabricksExecutionTrigger

        return DatabricksExecutionTrigger(
            run_id=run_id_for(index, end), databricks_conn_id=conn_id, polling_period_seconds=poll
        )
    from airflow.providers.dbt.cloud.triggers.dbt import DbtCloudRunJobTrigger

    return DbtCloudRunJobTrigger(
        conn_id=conn_id,
        run_id=run_id_for(index, end),
        end_time=time.time() + 86400,
        poll_interval=poll,
        account_id=ACCOUNT,
    )


def succeeded(provider: str, payload: dict[str, Any]) -> bool:
    if provider.startswith("ours"):
        return bool(payload.get("status", {}).get("phase") == "succeeded")
    if provider == "databricks":
        return bool(json.loads(payload["run_state"])["result_state"] == "SUCCESS")
    return bool(payload.get("status") == "success")


def rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def percentile(values: list[float], share: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


class Watchdog:
    """Event-loop lag as Airflow's triggerer measures it: sleep 0.1 s, see how much later it woke up."""

    INTERVAL = 0.1

    def __init__(self) -> None:
        self.lags: list[float] = []
        self.peak_rss = 0

    async def run(self) -> None:
        while True:
            started = time.monotonic()
            await asyncio.sleep(self.INTERVAL)
            self.lags.append(max(time.monotonic() - started - self.INTERVAL, 0.0))
            self.peak_rss = max(self.peak_rss, rss())


async def wait(trigger: Any, index: int, events: dict[int, tuple[float, dict[str, Any]]]) -> None:
    try:
        async for event in trigger.run():
            events.setdefault(index, (time.time(), event.payload))
    finally:
        await trigger.cleanup()


def server_stats(url: str, ca: str | None) -> dict[str, Any]:
    answer = httpx.get(f"{url}/_stats", verify=ca or True, timeout=30)
    return answer.raise_for_status().json()  # type: ignore[no-any-return]


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    conn_id = connect(args.provider, args.url, args.ca)
    # Connections count from before the warm-up: a pool that keeps the warm-up's connection still opened it.
    opened_before = server_stats(args.url, args.ca)["connections"]
    # Warm up on one run that has already ended: imports, TLS contexts and pools exist before the baseline.
    warm: dict[int, tuple[float, dict[str, Any]]] = {}
    await wait(make_trigger(args.provider, conn_id, 0, time.time() - 1, args.poll), 0, warm)
    if not warm or not succeeded(args.provider, warm[0][1]):
        raise SystemExit(f"warm-up wait failed: {warm}")
    before = server_stats(args.url, args.ca)
    gc.collect()
    baseline = rss()
    # What the measuring itself costs (the watchdog and the memory sampling), taken off every provider's CPU.
    idle = Watchdog()
    idling = asyncio.create_task(idle.run())
    idle_start = cpu_seconds()
    calibration = max(min(CALIBRATION_SECONDS, args.min_end), CALIBRATION_MIN_SECONDS)
    await asyncio.sleep(calibration)
    idling.cancel()
    harness_rate = (cpu_seconds() - idle_start) / calibration

    rng = random.Random(args.seed)
    start = time.time()
    ends = [start + rng.uniform(args.min_end, args.max_end) for _ in range(args.n)]
    triggers = [make_trigger(args.provider, conn_id, i, end, args.poll) for i, end in enumerate(ends)]
    watchdog = Watchdog()
    watching = asyncio.create_task(watchdog.run())
    cpu_start, wall_start = cpu_seconds(), time.monotonic()
    events: dict[int, tuple[float, dict[str, Any]]] = {}
    await asyncio.gather(*(wait(t, i, events) for i, t in enumerate(triggers)))
    cpu, wall = cpu_seconds() - cpu_start, time.monotonic() - wall_start
    harness = harness_rate * wall
    net_cpu = max(cpu - harness, 0.0)
    watching.cancel()
    after = server_stats(args.url, args.ca)

    calls = sum(after["calls"].values()) - sum(before["calls"].values())
    reads = after["reads"] - before["reads"]
    delays = [events[i][0] - ends[i] for i in events]
    ok = sum(succeeded(args.provider, payload) for _, payload in events.values())
    return {
        "provider": args.provider,
        "n": args.n,
        "transport": "tls" if args.url.startswith("https") else "plain",
        "completed": ok,
        "wall_seconds": round(wall, 2),
        "peak_bytes_per_wait": round((watchdog.peak_rss - baseline) / args.n),
        "cpu_seconds": round(net_cpu, 3),
        "harness_cpu_seconds": round(harness, 3),
        "calls": calls,
        "calls_per_wait": round(calls / args.n, 2),
        "polls": reads,
        "polls_per_wait": round(reads / args.n, 2),
        "cpu_seconds_per_1000_polls": round(net_cpu / reads * 1000, 4) if reads else None,
        "connections": after["connections"] - opened_before,
        "loop_lag_ms": {
            "p50": round(percentile(watchdog.lags, 0.50) * 1000, 2),
            "p99": round(percentile(watchdog.lags, 0.99) * 1000, 2),
            "max": round(max(watchdog.lags, default=0.0) * 1000, 2),
        },
        "end_to_event_s": {
            "p50": round(percentile(delays, 0.50), 3),
            "p99": round(percentile(delays, 0.99), 3),
            "mean": round(statistics.fmean(delays), 3) if delays else None,
        },
        "server_cpu_seconds": round(after["cpu_seconds"] - before["cpu_seconds"], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--provider", choices=PROVIDERS, required=True)
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--ca", help="PEM file of the CA that signed the server's certificate")
    parser.add_argument("--poll", type=float, default=10.0)
    parser.add_argument("--min-end", type=float, default=30.0)
    parser.add_argument("--max-end", type=float, default=120.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    raise_fd_limit()
    if args.ca:
        os.environ["SSL_CERT_FILE"] = args.ca  # aiohttp's default context trusts what OpenSSL's paths name
    # The triggerer logs at INFO into per-task log files: the formatting and writing are part of the cost.
    logging.basicConfig(level=logging.INFO, stream=open(os.devnull, "w"))  # noqa: SIM115
    result = asyncio.run(measure(args))
    json.dump(result, sys.stdout)
    print()


if __name__ == "__main__":
    main()
