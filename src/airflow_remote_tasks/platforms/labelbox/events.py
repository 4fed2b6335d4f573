"""Labelbox events for asset watchers: a project's export tasks that end (``'watch': 'exports'``, here), or its
data rows that reach a workflow status (``'watch': 'labels'``, :mod:`.labels`); the filter checked at DAG-parse
time.

Labelbox lists the organization's tasks filtered by status (``organization.tasks(where: {status})``, the SDK's
own query), with literal ``skip``/``first`` paging, newest first (a guess the provider already makes to find an
export by name). An ended task's ``updatedAt`` is taken as its end. A task names no project in its documented
fields: a task counts as the project's when its ``metadata`` says ``projectId`` (a guess: Labelbox documents
no metadata contents); an export whose metadata names no project fires no watcher of a project. The exports a
labels watcher starts are its own means, not the project's exports: they fire no exports watcher.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from airflow_remote_tasks.core.errors import ConfigurationError, UnexpectedAnswerError
from airflow_remote_tasks.core.events import EndedRun, EventFilter, check_phases, checked_id, parse_stamp
from airflow_remote_tasks.core.listing import check_selector_fields
from airflow_remote_tasks.core.operation import Operation
from airflow_remote_tasks.platforms.labelbox import PLATFORM, labels
from airflow_remote_tasks.platforms.labelbox.config import LabelboxConfig
from airflow_remote_tasks.platforms.labelbox.graphql import call
from airflow_remote_tasks.platforms.labelbox.queries import TASK_FIELDS
from airflow_remote_tasks.platforms.labelbox.tasks import PHASES, parse_task_status, task_ref

FILTER_FIELDS = ("project_id", "watch", "phases")
EXPORT_TYPE = "export-data-rows"
PAGE_SIZE = 100  # the SDK's page of the task listing
# Each phase an export ends in, as the listing's status filter takes it.
STATUS_OF_PHASE = {phase.value: word for word, phase in PHASES.items() if phase.is_terminal}


def list_tasks_query(skip: int) -> str:
    """The SDK's organization task listing by status, at page ``skip``."""
    return (
        "query GetOrganizationTasksPyApi($param_0: TaskStatus!){organization{tasks(where: {status: $param_0} "
        f"skip: {skip} first: {PAGE_SIZE}){{{TASK_FIELDS}}}}}}}"
    )


def check_event_filter(event_filter: Mapping[str, Any]) -> EventFilter:
    """:raises ConfigurationError: an unknown field, no project id, a watch other than ``exports`` or
    ``labels``, or phases an export does not end in (and what :func:`.labels.check_filter` raises)."""
    watch = event_filter.get("watch")
    if watch not in ("exports", "labels"):
        raise ConfigurationError(
            "A Labelbox event filter's 'watch' is 'exports' (the project's export tasks that end) or 'labels' "
            f"(its data rows that reach a workflow status), not {watch!r}."
        )
    check_selector_fields(
        event_filter,
        FILTER_FIELDS if watch == "exports" else labels.FIELDS,
        f"Labelbox {watch!r} event filters",
    )
    project_id = checked_id(
        event_filter,
        "project_id",
        PLATFORM.run_id_pattern,
        "A Labelbox event filter needs 'project_id', the project's id (such as 'ckproj0000000000000000001')",
    )
    if watch == "labels":
        return labels.check_filter(event_filter, project_id)
    phases = check_phases(event_filter)
    statuses = sorted(STATUS_OF_PHASE[phase.value] for phase in phases if phase.value in STATUS_OF_PHASE)
    if not statuses:
        ends = ", ".join(sorted(STATUS_OF_PHASE))
        raise ConfigurationError(
            f"A Labelbox export ends in one of: {ends}; the filter's 'phases' names none."
        )
    listing = {"project_id": project_id, "watch": "exports", "statuses": statuses}
    return EventFilter(listing=listing, task=project_id, phases=phases)


def ended_exports(
    config: LabelboxConfig, listing: Mapping[str, Any], since: datetime
) -> Operation[list[EndedRun]]:
    """The project's export tasks in the listing's statuses that ended at or after ``since``: each status's
    pages, newest first, until a page ends before ``since`` or is short.

    :raises UnexpectedAnswerError: a task's ``updatedAt`` is no time. Otherwise raises what the listing raises.
    """
    project_id = str(listing["project_id"])
    ended: list[EndedRun] = []
    for status in listing["statuses"]:
        skip = 0
        while True:
            data = yield from call(config, list_tasks_query(skip), {"param_0": status})
            tasks = list((data.get("organization") or {}).get("tasks") or [])
            moments = [_ended_at(task) for task in tasks]
            for task, moment in zip(tasks, moments, strict=True):
                if moment >= since and _is_projects_export(task, project_id):
                    ref = task_ref(config, str(task["id"]), via="organization")
                    ended.append(
                        EndedRun(ref=ref, status=parse_task_status(task), ended_at=moment, task=project_id)
                    )
            if len(tasks) < PAGE_SIZE or all(moment < since for moment in moments):
                break
            skip += len(tasks)
    return ended


def _is_projects_export(task: Mapping[str, Any], project_id: str) -> bool:
    metadata = task.get("metadata")
    named = metadata.get("projectId") if isinstance(metadata, Mapping) else None
    own = str(task.get("name") or "").startswith(labels.PREFIX)  # a labels watcher's means
    return str(task.get("type", "")).lower() == EXPORT_TYPE and named == project_id and not own


def _ended_at(task: Mapping[str, Any]) -> datetime:
    try:
        return parse_stamp(task.get("updatedAt"), f"Labelbox task {task.get('id')!r} updatedAt")
    except ValueError as error:
        raise UnexpectedAnswerError(
            f"The task listing answered a task that cannot be read: {error}."
        ) from None
