"""``make bench``: the provider's trigger against the Databricks and dbt Cloud triggers, and import costs.

``--mode harness``: for each transport (TLS with a throw-away CA, and plain HTTP) one bench server process is
started; for each N and provider one process runs N waits in one event loop (``benchmarks.waits``).
``--mode triggerer``: N deferred tasks of each provider in one real Airflow triggerer (``benchmarks.triggerer``).
``both`` (the default) runs the two. The report (markdown and JSON) goes to ``--out``; ``--docs`` also rewrites
the results section of ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import imports, triggerer_report

ROOT = Path(__file__).resolve().parent.parent
ANCHORS = ("databricks", "dbt")
# Each mode's results have a block of their own in the docs: a run of one mode leaves the other's in place.
DOCS_BLOCKS = {
    "harness": ("<!-- results: written by make bench -->", "<!-- end of results -->"),
    "triggerer": ("<!-- triggerer results: written by make bench -->", "<!-- end of triggerer results -->"),
}
# Targets the report checks (docs/benchmarks.md explains them).
MAX_LAG_P99_MS = 100.0
MAX_BYTES_PER_WAIT = 20_000
MIN_CONNECTION_RATIO = 10.0
MIN_CPU_RATIO = 3.0
MAX_IMPORT_MS = 50.0


def certificates(workdir: Path) -> tuple[Path, Path]:
    """(CA file, server chain+key file): ECDSA, as most public APIs use today."""
    import trustme

    ca = trustme.CA(key_type=trustme.KeyType.ECDSA)
    ca_file, server_file = workdir / "ca.pem", workdir / "server.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    cert = ca.issue_cert("127.0.0.1", "localhost", key_type=trustme.KeyType.ECDSA)
    cert.private_key_and_cert_chain_pem.write_to_path(str(server_file))
    return ca_file, server_file


class Server:
    """The bench server in its own process, stopped by its PID."""

    def __init__(self, cert: Path | None, log: Path) -> None:
        command = [sys.executable, "-m", "benchmarks.server"] + (["--cert", str(cert)] if cert else [])
        self.log = log.open("w")
        self.process = subprocess.Popen(
            command, cwd=ROOT, stdout=subprocess.PIPE, stderr=self.log, text=True, env=_env()
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"bench server did not start; see {log}")
        self.url = json.loads(line)["url"]

    def stop(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log.close()


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}


def run_waits(
    provider: str, n: int, server: Server, ca: Path | None, scale: float, log: Path
) -> dict[str, Any]:
    command = [
        sys.executable,
        "-m",
        "benchmarks.waits",
        f"--provider={provider}",
        f"--n={n}",
        f"--url={server.url}",
        f"--poll={10 * scale}",
        f"--min-end={30 * scale}",
        f"--max-end={120 * scale}",
    ] + ([f"--ca={ca}"] if ca else [])
    limit = 120 * scale + 600
    with log.open("w") as stderr:
        done = subprocess.run(
            command,
            check=False,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env=_env(),
            timeout=limit,
        )
    if done.returncode != 0:
        return {"provider": provider, "n": n, "error": f"exit {done.returncode}; see {log}"}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def ratio(anchor: float | None, ours: float | None) -> float | None:
    if not anchor or not ours:
        return None
    return round(anchor / ours, 1)


def comparisons(waits: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """For each (transport, N): ours against the better anchor, figure by figure."""
    rows = []
    keys = sorted({(w["transport"], w["n"]) for w in waits if "error" not in w})
    for transport, n in keys:
        group = {w["provider"]: w for w in waits if w.get("transport") == transport and w["n"] == n}
        ours = group.get("ours")
        anchors = [group[name] for name in ANCHORS if name in group]
        if ours is None or not anchors:
            continue

        def best(metric: str, anchors: list[dict[str, Any]] = anchors) -> dict[str, Any]:
            return min(anchors, key=lambda anchor: float(anchor[metric]))

        conn, cpu, mem = best("connections"), best("cpu_seconds_per_1000_polls"), best("peak_bytes_per_wait")
        rows.append(
            {
                "transport": transport,
                "n": n,
                "connections": {
                    "anchor": conn["provider"],
                    "times_fewer": ratio(conn["connections"], ours["connections"]),
                },
                "cpu_per_poll": {
                    "anchor": cpu["provider"],
                    "times_less": ratio(
                        cpu["cpu_seconds_per_1000_polls"], ours["cpu_seconds_per_1000_polls"]
                    ),
                },
                "cpu_per_wait": {
                    "anchor": min(anchors, key=lambda a: a["cpu_seconds"])["provider"],
                    "times_less": ratio(min(a["cpu_seconds"] for a in anchors), ours["cpu_seconds"]),
                },
                "memory_per_wait": {
                    "anchor": mem["provider"],
                    "times_less": ratio(mem["peak_bytes_per_wait"], ours["peak_bytes_per_wait"]),
                },
            }
        )
    return rows


def targets(
    waits: list[dict[str, Any]], compared: list[dict[str, Any]], import_ms: dict[str, Any]
) -> list[str]:
    """One line per target: met, or missed and by how much."""
    lines = []
    ours = [w for w in waits if w["provider"] == "ours" and "error" not in w]
    top = max((w["n"] for w in ours), default=0)
    for w in (w for w in ours if w["n"] == top):
        where = f"{top:,} waits ({w['transport']})"
        lines.append(_at_most(f"{where}: loop lag p99", w["loop_lag_ms"]["p99"], MAX_LAG_P99_MS, "ms"))
        lines.append(
            _at_most(
                f"{where}: memory per wait", w["peak_bytes_per_wait"] / 1000, MAX_BYTES_PER_WAIT / 1000, "KB"
            )
        )
    for row in compared:
        where = f"N={row['n']:,} ({row['transport']})"
        fewer, less = row["connections"], row["cpu_per_poll"]
        lines.append(
            _at_least(
                f"{where}: TCP connections, times fewer than {fewer['anchor']}",
                fewer["times_fewer"],
                MIN_CONNECTION_RATIO,
            )
        )
        lines.append(
            _at_least(
                f"{where}: CPU per poll, times less than {less['anchor']}", less["times_less"], MIN_CPU_RATIO
            )
        )
    ours_ms = import_ms.get("ours", {}).get("median_ms")
    if ours_ms is not None:
        lines.append(_at_most("operator import over airflow.sdk", ours_ms, MAX_IMPORT_MS, "ms"))
    return lines


def _at_most(what: str, value: float, target: float, unit: str) -> str:
    shown = f"{what} {round(value, 1):g} {unit} (target under {target:g} {unit})"
    if value <= target:
        return f"- met: {shown}"
    return f"- MISSED by {round(value - target, 1):g} {unit} ({value / target:.1f}x the target): {shown}"


def _at_least(what: str, value: float | None, target: float) -> str:
    if value is not None and value >= target:
        return f"- met: {what}: {value:g}x (target {target:g}x)"
    shown = "n/a" if value is None else f"{value:g}x"
    short = "" if not value else f" by a factor {target / value:.1f}"
    return f"- MISSED{short}: {what}: {shown} (target {target:g}x)"


def markdown(report: dict[str, Any]) -> str:
    """The whole report: each mode that ran, with its targets."""
    return "\n".join(section(report, mode) for mode in DOCS_BLOCKS if ran(report, mode))


def ran(report: dict[str, Any], mode: str) -> bool:
    return bool(report["waits"] if mode == "harness" else report.get("triggerer"))


def section(report: dict[str, Any], mode: str) -> str:
    """One mode's tables and targets, headed by the run's date and machine."""
    machine = report["machine"]
    out = [f"Run {report['started']} on {machine['cpus']} CPUs, Python {machine['python']}.", ""]
    if mode == "harness":
        out += [*harness_markdown(report), "Targets:", "", *report["targets"], ""]
    else:
        out += [*triggerer_report.markdown(report), "Targets:", "", *report["triggerer_targets"], ""]
    return "\n".join(out)


def harness_markdown(report: dict[str, Any]) -> list[str]:
    """The harness mode's tables, and the import costs."""
    out = [
        f"Harness: runs end {report['timeline']['min_end']:g}-{report['timeline']['max_end']:g} s after the "
        f"start, polled every {report['timeline']['poll']:g} s.",
        "",
        "| transport | N | provider | done | KB/wait | CPU s/1k polls | lag p50/p99 ms | TCP conns | API calls/wait | polls/wait | end→event p50/p99 s | wall s |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for w in report["waits"]:
        if "error" in w:
            out.append(
                f"| {w.get('transport', '?')} | {w['n']:,} | {w['provider']} | error: {w['error']} ||||||||"
            )
            continue
        out.append(
            f"| {w['transport']} | {w['n']:,} | {w['provider']} | {w['completed']:,} | "
            f"{w['peak_bytes_per_wait'] / 1000:.1f} | {w['cpu_seconds_per_1000_polls']} | "
            f"{w['loop_lag_ms']['p50']}/{w['loop_lag_ms']['p99']} | {w['connections']:,} | {w['calls_per_wait']} | "
            f"{w['polls_per_wait']} | "
            f"{w['end_to_event_s']['p50']}/{w['end_to_event_s']['p99']} | {w['wall_seconds']} |"
        )
    out += ["", "Ours against the better anchor at the same load (how many times fewer / less):", ""]
    out += [
        "| transport | N | TCP connections | CPU per poll | CPU per wait | memory per wait |",
        "|---|---:|---|---|---|---|",
    ]
    for row in report["comparisons"]:
        # No ratio when ours measured nothing (a peak within the sampling's noise): said, not "Nonex".
        cells = [
            f"{'n/a' if row[k][m] is None else f'{row[k][m]}x'} ({row[k]['anchor']})"
            for k, m in (
                ("connections", "times_fewer"),
                ("cpu_per_poll", "times_less"),
                ("cpu_per_wait", "times_less"),
                ("memory_per_wait", "times_less"),
            )
        ]
        out.append(f"| {row['transport']} | {row['n']:,} | " + " | ".join(cells) + " |")
    out += ["", "Operator import over `import airflow.sdk` (fresh interpreter each run):", ""]
    out += ["| provider | median ms | min-max ms | runs |", "|---|---:|---:|---:|"]
    for name, figures in report["imports"].items():
        out.append(
            f"| {name} | {figures['median_ms']} | {figures['min_ms']}-{figures['max_ms']} | {figures['runs']} |"
        )
    out.append("")
    return out


def update_docs(report: dict[str, Any], docs: Path = ROOT / "docs" / "benchmarks.md") -> None:
    """Rewrite the results block of each mode that ran."""
    text = docs.read_text()
    for mode, (begin, end) in DOCS_BLOCKS.items():
        if ran(report, mode):
            head, rest = text.split(begin, 1)
            _, tail = rest.split(end, 1)
            text = f"{head}{begin}\n{section(report, mode)}\n{end}{tail}"
    docs.write_text(text)


def run_harness(
    args: argparse.Namespace, sizes: list[int], providers: list[str], logs: Path
) -> list[dict[str, Any]]:
    """Every (transport, N, provider) row of the harness mode."""
    waits = []
    with tempfile.TemporaryDirectory() as workdir:
        ca, chain = certificates(Path(workdir))
        for transport in args.transports.split(","):
            tls = transport == "tls"
            server = Server(chain if tls else None, logs / f"server-{transport}.log")
            try:
                for n in sizes:
                    for provider in providers:
                        if provider == "dbt" and not tls:
                            continue  # the dbt Cloud hook always uses https
                        log = logs / f"{transport}-{n}-{provider}.log"
                        print(f"{transport} N={n:,} {provider} ...", end=" ", flush=True)
                        result = run_waits(provider, n, server, ca if tls else None, args.scale, log)
                        result.setdefault("transport", transport)
                        waits.append(result)
                        print(result.get("error") or f"{result['wall_seconds']} s", flush=True)
            finally:
                server.stop()
    return waits


def airflow_version() -> str:
    from importlib.metadata import version

    return version("apache-airflow")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mode", choices=("harness", "triggerer", "both"), default="both")
    parser.add_argument("--n", default="100,1000,5000,10000", help="comma-separated numbers of waits")
    # 1,000: Airflow's default [triggerer] capacity, and as many tasks as two cores start in about an hour
    parser.add_argument("--triggerer-n", default="1000", help="comma-separated numbers of deferred tasks")
    parser.add_argument(
        "--triggerer-poll", type=float, default=10.0, help="seconds between each task's polls"
    )
    parser.add_argument(
        "--triggerer-rows", type=Path, help="report these rows (a run's logs/triggerer-rows.jsonl) instead"
    )
    parser.add_argument("--transports", default="tls,plain")
    parser.add_argument("--providers", default="ours,databricks,dbt")
    parser.add_argument(
        "--scale", type=float, default=1.0, help="timeline factor: 1 = runs of 30-120 s, polls every 10 s"
    )
    parser.add_argument("--import-runs", type=int, default=9)
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results")
    parser.add_argument("--docs", action="store_true", help="also rewrite the results in docs/benchmarks.md")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    logs = args.out / "logs"
    logs.mkdir(exist_ok=True)
    sizes = [int(n) for n in args.n.split(",")]
    providers = args.providers.split(",")

    report: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "system": platform.platform(),
        },
        "timeline": {"poll": 10 * args.scale, "min_end": 30 * args.scale, "max_end": 120 * args.scale},
        "waits": [],
    }
    if args.mode in ("harness", "both"):
        report["waits"] = run_harness(args, sizes, providers, logs)
        report["imports"] = imports.measure(args.import_runs)
    if args.mode in ("triggerer", "both"):
        from benchmarks import triggerer

        report["triggerer_setup"] = {
            "airflow": airflow_version(),
            "poll": args.triggerer_poll,
            "window_polls": triggerer.WINDOW_POLLS,
        }
        chosen = [name for name in providers if name in triggerer.PROVIDERS]  # each has its DAG
        if args.triggerer_rows:  # a stopped run's rows, reported without measuring again
            lines = args.triggerer_rows.read_text().splitlines()
            report["triggerer"] = [json.loads(line) for line in lines if line.strip()]
        else:
            sizes_t = [int(n) for n in args.triggerer_n.split(",")]
            report["triggerer"] = triggerer.run(chosen, sizes_t, args.triggerer_poll, logs)
        report["triggerer_comparisons"] = triggerer_report.comparisons(report["triggerer"])
    report["comparisons"] = comparisons(report["waits"])
    report["targets"] = targets(report["waits"], report["comparisons"], report.get("imports", {}))
    report["triggerer_targets"] = triggerer_report.targets(report.get("triggerer_comparisons", []))
    table = markdown(report)
    (args.out / "report.json").write_text(json.dumps(report, indent=2))
    (args.out / "report.md").write_text(f"# Benchmark report\n\n{table}")
    if args.docs:
        update_docs(report)
    print(table)
    return report


if __name__ == "__main__":
    main()
