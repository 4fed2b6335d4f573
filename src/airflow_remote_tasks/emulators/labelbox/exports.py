"""An export's lines, as the brief shows them: a project's or a dataset's rows as they are now, with their labels
in the project; rows still as seeded are counted, not made (see :mod:`.stream`). The filters honoured: data row
ids or global keys, the workflow status, and date ranges on the rows' last activity and their labels' creation
(``BETWEEN`` both ends included; a date without a time as the whole day)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow_remote_tasks.emulators.labelbox.catalog import STAMP, Catalog
from airflow_remote_tasks.emulators.labelbox.stream import ExportStream


def build(state: Catalog, project_id: str | None, dataset_id: str, filters: dict[str, Any]) -> ExportStream:
    """The export of a project or a dataset as it is now, one JSON object a line, as the brief shows. Rows
    still as seeded are only counted here (their lines are made when read); the others are kept as text."""
    query = (filters.get("searchQuery") or {}).get("query") or []
    wanted_status = next((q.get("status") for q in query if q.get("type") == "task_queue_status"), None)
    unlabelled_only = any(q.get("type") == "task_queue_not_exist" for q in query)
    listed = next((q["ids"] for q in query if q.get("type") in ("data_row_id", "global_key")), None)
    by_key = any(q.get("type") == "global_key" for q in query)

    windows = _windows(query)

    def wanted(row: dict[str, Any]) -> bool:
        if not _within(windows.get("data_row_last_activity_at"), state.last_activity(row)):
            return False
        if project_id is None:
            return True
        labelled = [
            (label.get("label_details") or {}).get("created_at", STAMP)
            for label in state.labels_of(project_id, row)
        ]
        if "labeled_at" in windows and not any(_within(windows["labeled_at"], t) for t in labelled):
            return False
        status = state.status_of(project_id, row)
        return not ((wanted_status and status != wanted_status) or (unlabelled_only and status != "ToLabel"))

    def render(index: int) -> bytes:
        return export_line(state, project_id, state.seeded_row(dataset_id, index))

    stream = ExportStream(render)
    if listed is not None:  # a few rows named by id or key: each kept as text
        rows = [state.row_by_key(str(x)) if by_key else state.row(str(x)) for x in listed]
        for row in sorted(
            (r for r in rows if r and r["dataset_id"] == dataset_id), key=lambda r: _position(state, r)
        ):
            if wanted(row):
                stream.keep(export_line(state, project_id, row))
        return stream
    # Rows changed or labelled since seeding, among the seeded ones: kept as text, in their place.
    changed = {
        r["seed"] for r in state.data_rows.values() if r["dataset_id"] == dataset_id and r["seed"] is not None
    }
    if project_id is not None:
        changed |= {(state.row(r) or {}).get("seed") for (p, r) in state.labels if p == project_id} - {None}
        changed |= {(state.row(r) or {}).get("seed") for (p, r) in state.workflow if p == project_id} - {None}
    changed |= {(state.row(r) or {}).get("seed") for r in state.activity} - {None}
    labelled_below = state.projects[project_id]["labelled_below"] if project_id is not None else 0
    seeded = state.seeded[dataset_id]
    # Rows still as seeded, in runs where a line's size depends only on its index's parity: split where
    # the number of digits changes and where the seeded labels end. Each run's part of the export, by the
    # status filter: (below labelled_below: the even rows are done; above: none is).
    parts: dict[Any, Callable[[int, int, bool], range]] = {
        "Done": lambda a, b, below: range(a + a % 2, b, 2) if below else range(0),
        "ToLabel": lambda a, b, below: range(a + 1 - a % 2, b, 2) if below else range(a, b),
        "InReview": lambda a, b, below: range(0),
        "InRework": lambda a, b, below: range(0),
    }
    status = None if project_id is None else wanted_status or ("ToLabel" if unlabelled_only else None)
    part = parts.get(status, lambda a, b, below: range(a, b))
    none = parts["InReview"]
    if not all(_within(window, STAMP) for window in windows.values()):
        part = none  # seeded rows were last active, and labelled, then: none of them is in the window
    elif "labeled_at" in windows and project_id is not None:
        part = parts["Done"] if status in (None, "Done") else none  # only the labelled ones, all Done
    splits = sorted({10**d for d in range(1, len(str(seeded)) + 1)} | {labelled_below} | changed)
    start = 0
    for stop in [*(x for x in splits if 0 <= x < seeded), seeded]:
        stream.seeded(part(start, stop, start < labelled_below), lambda i: len(render(i)))
        if stop in changed:
            row = state.row(state.seeded_row(dataset_id, stop)["id"]) or {}
            if wanted(row):
                stream.keep(export_line(state, project_id, row))
            start = stop + 1
        else:
            start = stop
    for row_id in state.created[dataset_id]:
        if wanted(state.data_rows[row_id]):
            stream.keep(export_line(state, project_id, state.data_rows[row_id]))
    return stream


def _position(state: Catalog, row: dict[str, Any]) -> int:
    seed = row.get("seed")
    return (
        seed
        if seed is not None
        else state.seeded[row["dataset_id"]] + state.created[row["dataset_id"]].index(row["id"])
    )


def export_line(state: Catalog, project_id: str | None, row: dict[str, Any]) -> bytes:
    """A row's line in an export, as the brief shows one."""
    dataset_id = row["dataset_id"]
    line: dict[str, Any] = {
        "data_row": {
            "id": row["id"],
            "external_id": row.get("external_id"),
            "row_data": row.get("row_data"),
            "global_key": row.get("global_key"),
            "details": {
                "dataset_id": dataset_id,
                "dataset_name": state.datasets[dataset_id]["name"],
                "last_activity_at": state.last_activity(row),
            },
        },
        "media_attributes": {"mime_type": "image/jpeg"},
    }
    if project_id is not None:
        labels = state.labels_of(project_id, row)
        line["projects"] = {project_id: {"name": state.projects[project_id]["name"], "labels": labels}}
    return json.dumps(line, separators=(",", ":")).encode() + b"\n"


Window = tuple[datetime | None, datetime | None]


def _windows(query: list[dict[str, Any]]) -> dict[str, Window]:
    """The date ranges of a search query, by filter type (``data_row_last_activity_at``, ``labeled_at``)."""
    found: dict[str, Window] = {}
    for item in query:
        if item.get("type") in ("data_row_last_activity_at", "labeled_at"):
            spec: dict[str, Any] = item.get("value") or {}
            value: Any = spec.get("value")
            operator = spec.get("operator")
            if operator == "BETWEEN":
                found[item["type"]] = (_moment(value["min"]), _moment(value["max"], end=True))
            elif operator == "GREATER_THAN_OR_EQUAL":
                found[item["type"]] = (_moment(value), None)
            elif operator == "LESS_THAN_OR_EQUAL":
                found[item["type"]] = (None, _moment(value, end=True))
    return found


def _moment(text: str, *, end: bool = False) -> datetime:
    """A filter's date (``YYYY-MM-DD``, ``YYYY-MM-DD hh:mm:ss`` in UTC, ISO 8601); a day as an end: its last
    moment."""
    moment = datetime.fromisoformat(str(text).strip().replace("Z", "+00:00"))
    if end and len(str(text).strip()) == 10:
        moment += timedelta(days=1, microseconds=-1)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _within(window: Window | None, text: str) -> bool:
    if window is None:
        return True
    moment = _moment(text)
    low, high = window
    return (low is None or moment >= low) and (high is None or moment <= high)
