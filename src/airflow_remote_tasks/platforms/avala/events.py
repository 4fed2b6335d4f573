"""Avala state changes, for asset watchers: a filter (a project, what to watch, a task status) checked at
DAG-parse time, and the change a project's task listing shows.

``{"project": uid, "watch": "tasks", "status": "completed"}`` fires when every task of the project is in the
status: an edge, from "some task is not" to "every task is", never a state that stays true. The change is named
by the project's tasks and the newest ``updated_at`` among them (the moment the last of them got there), so a
listing that shows it again is not an event again, and new tasks that all reach the status later are a new one.
A project with no tasks never fires.

Avala lists no exports (it reads one by uid, ``GET /exports/{uid}/``): a watcher cannot see them finish, so
``"watch": "exports"`` is refused with what to do instead.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from airflow_remote_tasks.core.errors import ConfigurationError, UnexpectedAnswerError
from airflow_remote_tasks.core.events import EndedRun, EventFilter, checked_id, parse_stamp, stamp
from airflow_remote_tasks.core.listing import check_selector_fields
from airflow_remote_tasks.core.models import RunRef, RunStatus
from airflow_remote_tasks.core.operation import Operation
from airflow_remote_tasks.core.phases import Phase
from airflow_remote_tasks.platforms.avala import PLATFORM
from airflow_remote_tasks.platforms.avala.api import AvalaApi
from airflow_remote_tasks.platforms.avala.runs import ref_of

FILTER_FIELDS = ("project", "watch", "status")
# The status every task must reach when the filter names none: "completed" is the done word Avala's examples use
# (a guess: Avala enumerates no task statuses, so the filter's 'status' is the user's to set).
DEFAULT_STATUS = "completed"
WATCHES = ("tasks", "exports")
NO_EXPORT_LISTING = (
    "Avala's API lists no exports (it reads one by uid only), so a watcher cannot see them finish. Wait on an "
    "export with RemoteRunSensor on its uid, or watch the project's tasks: "
    "{'project': ..., 'watch': 'tasks', 'status': 'completed'}."
)


def check_event_filter(event_filter: Mapping[str, Any]) -> EventFilter:
    """:raises ConfigurationError: an unknown field, no project uid, a watch other than ``tasks`` (exports
    cannot be listed), or a status that is not a word."""
    check_selector_fields(event_filter, FILTER_FIELDS, "Avala event filters")
    project = checked_id(
        event_filter,
        "project",
        PLATFORM.run_id_pattern,
        "An Avala event filter needs 'project', the project's uid (such as 'proj-001')",
    )
    watch = event_filter.get("watch")
    if watch == "exports":
        raise ConfigurationError(NO_EXPORT_LISTING)
    if watch != "tasks":
        raise ConfigurationError(
            f"An Avala event filter's 'watch' is 'tasks' (every task of the project reaches 'status'), not "
            f"{watch!r}."
        )
    status = event_filter.get("status", DEFAULT_STATUS)
    if not isinstance(status, str) or not status.strip():
        raise ConfigurationError(
            f"An Avala event filter's 'status' is the task status every task must reach, such as "
            f"'{DEFAULT_STATUS}', not {status!r}."
        )
    listing = {"project": project, "watch": "tasks", "status": status.strip()}
    return EventFilter(listing=listing, phases=[Phase.SUCCEEDED])


def task_changes(api: AvalaApi, listing: Mapping[str, Any], since: datetime) -> Operation[list[EndedRun]]:
    """The project's tasks, every cursor page: the change "every task is in the status" when it holds and got
    there at or after ``since`` (one at most), else none.

    :raises NotFoundError: an empty listing of a project the key cannot see (a filter on an unknown project
        answers an empty page), naming the filter's field.
    :raises UnexpectedAnswerError: a task without a readable ``updated_at``. Otherwise raises what the listing
        raises.
    """
    project, status = str(listing["project"]), str(listing["status"])
    tasks = yield from api.listing("tasks", {"project": project})
    if not tasks:
        yield from api.check_exists("projects", project, " (the event filter's 'project')")
        return []
    if any(task.get("status") != status for task in tasks):
        return []
    reached = max(_changed_at(task) for task in tasks)
    if reached < since:
        return []
    uids = sorted(str(task.get("uid")) for task in tasks)
    digest = hashlib.sha256("\n".join([*uids, stamp(reached)]).encode()).hexdigest()[:12]
    project_ref = ref_of(api.config, "task", uids[-1], project)
    ref = RunRef(
        platform=PLATFORM.name,
        run_id=f"{project}-{status}-{digest}",
        scope={"kind": "tasks", "project": project},
        url=project_ref.url.rsplit("/tasks/", 1)[0],
    )
    return [
        EndedRun(
            ref=ref,
            status=RunStatus(phase=Phase.SUCCEEDED, raw_phase=status),
            ended_at=reached,
            task="tasks",
            details={
                "project": project,
                "status": status,
                "counts": {"tasks": len(tasks), status: len(tasks)},
            },
            summary=f"every task of Avala project {project} ({len(tasks)}) is {status}, at {stamp(reached)}",
        )
    ]


def _changed_at(task: Mapping[str, Any]) -> datetime:
    """When the task last changed (``updated_at``; ``created_at`` for one never changed).

    :raises UnexpectedAnswerError: neither is a time."""
    try:
        return parse_stamp(
            task.get("updated_at") or task.get("created_at"), f"Avala task {task.get('uid')!r} updated_at"
        )
    except ValueError as error:
        raise UnexpectedAnswerError(f"GET /tasks/ answered a task that cannot be read: {error}.") from None
