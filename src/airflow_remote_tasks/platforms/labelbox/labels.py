"""A Labelbox project's data rows that reached a workflow status, for asset watchers (``'watch': 'labels'``).

Labelbox answers "which rows are Done" only through an export, so each poll starts one project export filtered
by the workflow status and by an activity window (from the listing's ``since`` to now), waits for it (bounded),
reads its rows as they stream, and answers one change standing for them: the rows, each by id with its time,
which the watermark keeps (:class:`~airflow_remote_tasks.core.events.EndedRun` ``items``), so a row read
again in the next window's overlap does not fire again.

An export is a costly call. It is named after its window (the listing, and the window's start and end: a
retried or restarted poll from the same start finds it by that name and attaches, with its end read from the
name, where reading it moves the listing on) and started with
:func:`~airflow_remote_tasks.core.create_once.create_once`; and the watcher's poll interval is at least
``[remote_tasks] costly_watch_min_poll_interval``, checked when the DAG is parsed. (A watcher's first window is
the listing's lag long: reading it again would not move the listing on, so a first poll retried starts another.)

Which time marks "reached the status" is a guess: the filter's ``activity`` picks the data row's last activity
(the default) or its label's creation. Reaching a workflow status is a workflow action on the row, which Labelbox
counts as activity (a guess); a label is made before its review, so a row labelled before the window and
approved into Done within it is not in a window on label creation.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from airflow.sdk.configuration import conf
from airflow.sdk.exceptions import AirflowConfigException

from airflow_remote_tasks.core.create_once import create_once
from airflow_remote_tasks.core.errors import ApiError, ConfigurationError, UnexpectedAnswerError
from airflow_remote_tasks.core.events import LAG, EndedRun, EventFilter, parse_stamp, stamp
from airflow_remote_tasks.core.listing import check_selector_fields
from airflow_remote_tasks.core.models import RunRef
from airflow_remote_tasks.core.operation import Operation
from airflow_remote_tasks.core.phases import Phase
from airflow_remote_tasks.platforms.labelbox import exports
from airflow_remote_tasks.platforms.labelbox.graphql import call
from airflow_remote_tasks.platforms.labelbox.jobs import ExportFilters, ExportParams, ExportProject
from airflow_remote_tasks.platforms.labelbox.tasks import ENDED, Tasks, parse_task_status, task_ref

FIELDS = ("project_id", "watch", "workflow_status", "activity")
WORKFLOW_STATUSES = ("ToLabel", "InReview", "InRework", "Done")  # the export filter's values
DEFAULT_STATUS = "Done"  # rows whose labels were accepted: what "labelled" usually means
ACTIVITIES = ("last_activity_at", "label_created_at")  # the export filters a window can be on
DEFAULT_ACTIVITY = "last_activity_at"  # reaching a status is activity on the row (module docstring)
SETTING = ("remote_tasks", "costly_watch_min_poll_interval")
# An export per poll: one every quarter of an hour is what a project's labelling pace calls for, and keeps the
# exports a watcher starts to some hundred a day.
DEFAULT_MIN_POLL = 900.0
PREFIX = "airflow-labels-"  # the name of every export a labels watcher starts (an exports watcher skips them)
# The pauses between reads of a running export: soon for a small one, then every 15 s (the SDK reads every 2 s
# at the least), for up to about 10 minutes in all (well within the shortest poll interval's 15); then the
# next poll attaches to it.
EXPORT_PAUSES = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, *(15.0,) * 38)
NAME_TIME = "%Y%m%dT%H%M%SZ"


def check_filter(event_filter: Mapping[str, Any], project_id: str) -> EventFilter:
    """A ``'watch': 'labels'`` filter of ``project_id``, checked.

    :raises ConfigurationError: an unknown field, workflow status or activity; label creation as the time of
        rows still to label; or a setting ``costly_watch_min_poll_interval`` that is no number.
    """
    check_selector_fields(event_filter, FIELDS, "Labelbox 'labels' event filters")
    status = _one_of(event_filter, "workflow_status", WORKFLOW_STATUSES, DEFAULT_STATUS)
    activity = _one_of(event_filter, "activity", ACTIVITIES, DEFAULT_ACTIVITY)
    if status == "ToLabel" and activity == "label_created_at":
        raise ConfigurationError(
            "A Labelbox 'labels' watcher of rows to label cannot time them by their label's creation (they have "
            "none yet): use 'activity': 'last_activity_at'."
        )
    try:
        minimum = conf.getfloat(*SETTING, fallback=DEFAULT_MIN_POLL)
    except AirflowConfigException:
        raise ConfigurationError(f"[{SETTING[0]}] {SETTING[1]} must be a number of seconds.") from None
    listing = {"project_id": project_id, "watch": "labels", "workflow_status": status, "activity": activity}
    return EventFilter(
        listing=listing,
        task=project_id,
        phases=[Phase.SUCCEEDED],  # a completed export is what shows the rows
        min_poll_interval=minimum,
        min_poll_reason=f"each poll starts a Labelbox export; [{SETTING[0]}] {SETTING[1]} sets the minimum",
    )


def _one_of(event_filter: Mapping[str, Any], field: str, allowed: tuple[str, ...], default: str) -> str:
    value = event_filter.get(field, default)
    if value not in allowed:
        raise ConfigurationError(
            f"A Labelbox 'labels' event filter's {field!r} is one of {', '.join(allowed)} (default {default}), "
            f"not {value!r}."
        )
    return str(value)


def reached(
    tasks: Tasks, listing: Mapping[str, Any], since: datetime, now: datetime | None = None
) -> Operation[list[EndedRun]]:
    """The rows of the listing's project in its workflow status whose activity falls from ``since`` to ``now``
    (default: the clock), as one change (none of them fired yet: the watermark decides), read from one export
    of that window: started, or found by its window's name and attached to.

    :raises ApiError: (worth another try: the next poll attaches or starts another) the export is still running
        after the pauses, failed, was cancelled or is gone. :raises UnexpectedAnswerError: a line of it is no
        JSON object. Otherwise raises what the calls raise.
    """
    config = tasks.config
    project_id = str(listing["project_id"])
    start = since.astimezone(timezone.utc).replace(microsecond=0)  # Labelbox's date filters take seconds
    until = max(start, (now or datetime.now(timezone.utc)).astimezone(timezone.utc).replace(microsecond=0))
    digest = hashlib.sha256(json.dumps(dict(listing), sort_keys=True).encode()).hexdigest()[:12]
    prefix = f"{PREFIX}{digest}-{start.strftime(NAME_TIME)}-"
    link = config.project_url(project_id)

    def found() -> Operation[tuple[RunRef, datetime] | None]:
        """The window's export with the latest end, if reading it moves the listing on (its end is more than
        the listing's lag past ``since``): else a poll would attach to it again and again."""
        windows = []
        for task in (yield from tasks.created()):
            name = str(task.get("name") or "")
            if name.startswith(prefix):
                try:
                    ends = datetime.strptime(name[len(prefix) :], NAME_TIME).replace(tzinfo=timezone.utc)
                except ValueError:
                    continue  # not a name this module makes
                windows.append((ends, str(task["id"])))
        if not windows or max(windows)[0] - LAG <= since:
            return None
        ends, task_id = max(windows)
        return task_ref(config, task_id, via="user", url=link), ends

    def created() -> Operation[tuple[RunRef, datetime]]:
        window = (start.isoformat(), until.isoformat())
        job = ExportProject(
            project_id=project_id,
            filters=ExportFilters.model_validate(
                {"workflow_status": listing["workflow_status"], listing["activity"]: window}
            ),
            params=ExportParams(data_row_details=True, label_details=True),  # the rows' times
        )
        mutation, field = exports.MUTATIONS[ExportProject]
        name = prefix + until.strftime(NAME_TIME)
        data = yield from call(config, mutation, {"input": job.wire(name)}, idempotent=False)
        return task_ref(config, str(data[field]["taskId"]), via="user", url=link), until

    ref, until = yield from create_once(found, created)
    task = yield from _ended(tasks, ref)
    rows = _Rows(project_id, str(listing["activity"]), until)
    yield from exports.download(config, ref, "RESULT", rows)
    rows.close()
    status = listing["workflow_status"]
    window = {"from": stamp(start), "to": stamp(until)}
    return [
        EndedRun(
            ref=ref,
            status=parse_task_status(task),
            ended_at=until,
            task=project_id,
            items=rows.items,
            item_name="data_row",
            details={
                "export_id": ref.run_id,
                "workflow_status": status,
                "activity": listing["activity"],
                "window": window,
            },
            summary=f"Labelbox project {project_id}: rows reached {status} ({listing['activity']} "
            f"{window['from']} to {window['to']})",
        )
    ]


def _ended(tasks: Tasks, ref: RunRef) -> Operation[dict[str, Any]]:
    """The export once it completed, read again after each of :data:`EXPORT_PAUSES`."""
    for pause in (0.0, *EXPORT_PAUSES):
        task = yield from tasks.get(ref.run_id, "user", pause=pause)
        if task is None:
            raise _again(
                f"Labelbox export {ref.run_id} of a labels watcher is gone; the next poll starts another."
            )
        if task.get("status") in ENDED:
            if task["status"] != "COMPLETE":
                raise _again(
                    f"Labelbox export {ref.run_id} of a labels watcher ended {task['status']} "
                    f"({parse_task_status(task).message}); the next poll starts another."
                )
            return task
    waited = round(sum(EXPORT_PAUSES))
    raise _again(
        f"Labelbox export {ref.run_id} of a labels watcher still runs after {waited} s; a later poll of its window attaches to it."
    )


def _again(message: str) -> ApiError:
    return ApiError(message, status=200, code="export_not_done", retryable=True)


class _Rows:
    """Reads an export's lines as they arrive: each row's id and its time (the window's end where a line gives
    none, a guess: the row was in the window)."""

    def __init__(self, project_id: str, activity: str, until: datetime) -> None:
        self.project_id = project_id
        self.activity = activity
        self.until = until
        self.items: dict[str, datetime] = {}
        self._rest = b""

    def write(self, data: bytes) -> None:
        *lines, self._rest = (self._rest + data).split(b"\n")
        for line in lines:
            self._read(line)

    def close(self) -> None:
        self._read(self._rest)
        self._rest = b""

    def _read(self, line: bytes) -> None:
        if not line.strip():
            return
        try:
            entry = json.loads(line)
            row = entry["data_row"]
            self.items[str(row["id"])] = self._time(entry, row)
        except (ValueError, KeyError, TypeError, AttributeError):
            raise UnexpectedAnswerError(
                f"A line of a Labelbox export is not a data row: {line[:160]!r}."
            ) from None

    def _time(self, entry: dict[str, Any], row: dict[str, Any]) -> datetime:
        times = []
        if self.activity == "label_created_at":
            project = (entry.get("projects") or {}).get(self.project_id) or {}
            times = [
                (label.get("label_details") or {}).get("created_at") for label in project.get("labels") or []
            ]
        times.append((row.get("details") or {}).get("last_activity_at") if not any(times) else None)
        parsed = [parse_stamp(text, "a row's time") for text in times if text]
        return max(parsed, default=self.until)
