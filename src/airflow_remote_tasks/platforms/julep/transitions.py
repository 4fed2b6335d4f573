"""Julep transitions (the steps an execution took): its progress lines while it runs, and, Julep having no log
stream, what it did last when it ends."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from airflow_remote_tasks.core.models import Progress, RunRef
from airflow_remote_tasks.core.operation import Operation
from airflow_remote_tasks.platforms.julep import rest
from airflow_remote_tasks.platforms.julep.config import JulepConfig

SUMMARY_CHARS = 160  # a value in a log line: enough to recognise it, short enough to keep lines readable


def summarize(value: Any, limit: int = SUMMARY_CHARS) -> str:
    text = json.dumps(value, default=str, separators=(",", ":"), sort_keys=True)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def progress(config: JulepConfig, ref: RunRef, seen: int) -> Operation[Progress]:
    """The transitions after the first ``seen`` ones, oldest first."""
    items = yield from rest.list_items(
        config, rest.execution_path(ref.run_id, "/transitions"), offset=seen, newest_first=False
    )
    return Progress(lines=[describe_transition(t) for t in items], seen=seen + len(items))


def last_transitions(config: JulepConfig, ref: RunRef, max_lines: int) -> Operation[list[str]]:
    """The last ``max_lines`` transitions (one page at most), oldest first."""
    items = yield from rest.list_items(
        config,
        rest.execution_path(ref.run_id, "/transitions"),
        limit=max(1, min(max_lines, rest.PAGE_SIZE)),
    )
    return [describe_transition(t) for t in reversed(items)]


def describe_transition(transition: Mapping[str, Any]) -> str:
    current = transition.get("current") or {}
    where = f"step {current.get('step', '?')}"
    if current.get("workflow") not in (None, "", "main"):
        where += f" of {current['workflow']}"
    label = transition.get("step_label")
    if label:
        where += f" ({label})"
    kind = transition.get("type", "?")
    return f"{where} {kind}: {summarize(transition.get('output'))}"
