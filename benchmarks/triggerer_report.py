"""The real-triggerer rows of the report: ours against the better anchor at each N, the goal checks, markdown."""

from __future__ import annotations

from typing import Any

ANCHORS = ("databricks", "dbt")
# The goal (docs/benchmarks.md): at least this many times less added RSS and CPU per poll than the better
# anchor, in one run, and no loop-block warnings where an anchor has them.
MIN_RATIO = 3.0


def ratio(anchor: float | None, ours: float | None) -> float | None:
    """How many times ``anchor`` is ``ours``; None when either is missing or ours is not above zero (a
    figure within the noise of the idle baseline has no meaningful ratio)."""
    if anchor is None or ours is None or ours <= 0:
        return None
    return round(anchor / ours, 1)


def comparisons(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """For each N with ours and at least one anchor measured: the better anchor per figure, and the ratio."""
    compared = []
    for n in sorted({row["n"] for row in rows if "error" not in row}):
        group = {row["provider"]: row for row in rows if row["n"] == n and "error" not in row}
        ours = group.get("ours")
        anchors = [group[name] for name in ANCHORS if name in group]
        if ours is None or not anchors:
            continue
        entry: dict[str, Any] = {"n": n}
        for figure in ("rss_kb_per_task", "cpu_ms_per_poll"):
            measured = [a for a in anchors if a.get(figure) is not None]
            if not measured:
                entry[figure] = {"anchor": None, "times_less": None}
                continue
            best = min(measured, key=lambda anchor, figure=figure: float(anchor[figure]))
            entry[figure] = {"anchor": best["provider"], "times_less": ratio(best[figure], ours[figure])}
        # the window's: the triggerer alone at work (see benchmarks.triggerer)
        entry["blocked_warnings"] = {
            "ours": ours["blocked_warnings_window"],
            "anchors": {a["provider"]: a["blocked_warnings_window"] for a in anchors},
        }
        compared.append(entry)
    return compared


def targets(compared: list[dict[str, Any]]) -> list[str]:
    """One line per goal and N: met, or missed and by how much."""
    lines = []
    for entry in compared:
        where = f"triggerer N={entry['n']:,}"
        for figure, what in (("rss_kb_per_task", "added RSS per task"), ("cpu_ms_per_poll", "CPU per poll")):
            anchor, value = entry[figure]["anchor"], entry[figure]["times_less"]
            lines.append(_at_least(f"{where}: {what}, times less than {anchor}", value))
        blocked = entry["blocked_warnings"]
        warned = {name: count for name, count in blocked["anchors"].items() if count}
        anchors = ", ".join(f"{name} {count}" for name, count in warned.items()) or "none for the anchors"
        shown = f"{where}: loop-block warnings in the window: ours {blocked['ours']} ({anchors})"
        if blocked["ours"] == 0:
            lines.append(f"- met: {shown}")
        elif warned:
            lines.append(f"- MISSED: {shown}")
        else:
            lines.append(f"- MISSED (the anchors have none): {shown}")
    return lines


def _at_least(what: str, value: float | None) -> str:
    if value is not None and value >= MIN_RATIO:
        return f"- met: {what}: {value:g}x (target {MIN_RATIO:g}x)"
    shown = "n/a" if value is None else f"{value:g}x"
    short = "" if not value else f" by a factor {MIN_RATIO / value:.1f}"
    return f"- MISSED{short}: {what}: {shown} (target {MIN_RATIO:g}x)"


def markdown(report: dict[str, Any]) -> list[str]:
    """The triggerer section's lines (none when the mode did not run)."""
    rows = report.get("triggerer")
    if not rows:
        return []
    setup = report["triggerer_setup"]
    out = [
        f"Real triggerer (Airflow {setup['airflow']}, LocalExecutor, PostgreSQL, one triggerer, TLS): every task "
        f"polls every {setup['poll']:g} s; a fresh triggerer per row, warmed up on one task; the window is "
        f"{setup['window_polls']} polls with all N deferred and their runs held; idle triggerer subtracted. "
        "Loop-block warnings: in the window / from the trigger to the end of the run.",
        "",
        "| N | provider | done | defer all s | idle MB | KB/task median/peak | CPU ms/poll | polls | API calls | TCP conns "
        "| calls/conns total | loop-block warnings | end→event p50/p99 s | end→resume p50/p99 s | drain s |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        if "error" in row:
            out.append(f"| {row['n']:,} | {row['provider']} | error: {row['error']} |||||||||||||")
            continue
        out.append(
            f"| {row['n']:,} | {row['provider']} | {row['completed']:,} | {row['seconds_to_defer_all']} | "
            f"{row['idle_rss_mb']} | {row['rss_kb_per_task']}/{row.get('rss_peak_kb_per_task', 'n/a')} | "
            f"{row['cpu_ms_per_poll']} | "
            f"{row['polls_window']:,} | {row['calls_window']:,} | {row['connections_window']:,} | "
            f"{row['calls_total']:,}/{row['connections_total']:,} | "
            f"{row['blocked_warnings_window']}/{row['blocked_warnings']} | "
            f"{_p50_p99(row.get('end_to_event_s'))} | "
            f"{row['end_to_resume_s']['p50']}/{row['end_to_resume_s']['p99']} | {row['drain_seconds']} |"
        )
    out += ["", "Ours against the better anchor in the real triggerer (how many times less):", ""]
    out += [
        "| N | added RSS per task | CPU per poll | loop-block warnings in the window (ours; anchors) |",
        "|---:|---|---|---|",
    ]
    for entry in report["triggerer_comparisons"]:
        cells = [_times(entry[k]) for k in ("rss_kb_per_task", "cpu_ms_per_poll")]
        blocked = entry["blocked_warnings"]
        anchors = ", ".join(f"{name} {count}" for name, count in blocked["anchors"].items())
        out.append(f"| {entry['n']:,} | " + " | ".join(cells) + f" | {blocked['ours']}; {anchors} |")
    out.append("")
    return out


def _times(compared: dict[str, Any]) -> str:
    value = compared["times_less"]
    return f"{'n/a' if value is None else f'{value}x'} ({compared['anchor']})"


def _p50_p99(figures: dict[str, float] | None) -> str:
    """``p50/p99``; n/a for a row kept without the figure (by an earlier version of the harness)."""
    return "n/a" if figures is None else f"{figures['p50']}/{figures['p99']}"
