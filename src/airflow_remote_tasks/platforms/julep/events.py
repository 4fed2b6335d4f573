"""Julep executions that end, for asset watchers: a filter (a task's id, phases) checked at DAG-parse time, and a
task's executions that ended since a moment.

Julep lists executions per task only, newest change first when asked (``sort_by=updated_at``); an ended
execution's ``updated_at`` is the time of its last transition, its end. So the listing is read until the first
execution that changed before the moment asked.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from airflow_remote_tasks.core.errors import NotFoundError, UnexpectedAnswerError
from airflow_remote_tasks.core.events import EndedRun, EventFilter, check_phases, checked_id, parse_stamp
from airflow_remote_tasks.core.listing import check_selector_fields
from airflow_remote_tasks.core.operation import Operation
from airflow_remote_tasks.platforms.julep import PLATFORM, rest
from airflow_remote_tasks.platforms.julep.config import JulepConfig
from airflow_remote_tasks.platforms.julep.executions import ENDED, ref_of, status_of

FILTER_FIELDS = ("task_id", "phases")


def check_event_filter(event_filter: Mapping[str, Any]) -> EventFilter:
    """:raises ConfigurationError: an unknown field, a task id that is no UUID, or phases a run does not end in."""
    check_selector_fields(event_filter, FILTER_FIELDS, "Julep event filters")
    task_id = checked_id(
        event_filter,
        "task_id",
        PLATFORM.run_id_pattern,
        "A Julep event filter needs 'task_id', the task's UUID (Julep lists executions per task, by id)",
    ).lower()
    phases = check_phases(event_filter)
    return EventFilter(listing={"task_id": task_id}, task=task_id, phases=phases)


def ended_runs(config: JulepConfig, listing: Mapping[str, Any], since: datetime) -> Operation[list[EndedRun]]:
    """The task's executions that ended at or after ``since``: pages newest change first, until one changed
    before ``since``.

    :raises NotFoundError: no such task at the connection's base URL, naming the filter's field.
    :raises UnexpectedAnswerError: an execution's ``updated_at`` is no time. Otherwise raises what the listing
        raises.
    """
    task_id = str(listing["task_id"])
    path = f"tasks/{rest.segment(task_id, 'task_id')}/executions"
    ended: list[EndedRun] = []
    offset = 0
    while True:
        try:
            items = yield from rest.list_items(config, path, offset=offset, sort_by="updated_at")
        except NotFoundError:
            raise NotFoundError(
                f"No Julep task with id {task_id!r} at {config.base_url}: fix the event filter's 'task_id'.",
                status=404,
                code="not_found",
            ) from None
        for item in items:
            try:
                changed = parse_stamp(
                    item.get("updated_at"), f"Julep execution {item.get('id')!r} updated_at"
                )
            except ValueError as error:
                raise UnexpectedAnswerError(
                    f"{path} answered an execution that cannot be read: {error}."
                ) from None
            if changed < since:
                return ended
            if item.get("status") in ENDED:
                ended.append(
                    EndedRun(ref=ref_of(config, item), status=status_of(item), ended_at=changed, task=task_id)
                )
        if len(items) < rest.PAGE_SIZE:
            return ended
        offset += len(items)
