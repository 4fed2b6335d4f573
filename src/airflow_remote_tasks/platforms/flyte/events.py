"""Flyte runs that end, for asset watchers: a filter (task, labels, phases) checked at DAG-parse time, and the
runs of a project that ended since a moment (ListRuns filtered on the ended phases and ``ended_at``).

The listing is a project's (and domain's, and labels' where given): every watcher of runs in that project shares
it, whatever task it watches; the task and the phases are picked out of it by each watcher.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from airflow_remote_tasks.core.errors import ApiError, ConfigurationError, UnexpectedAnswerError
from airflow_remote_tasks.core.events import EndedRun, EventFilter, check_phases, parse_stamp, stamp
from airflow_remote_tasks.core.listing import check_selector_fields
from airflow_remote_tasks.core.operation import Operation
from airflow_remote_tasks.core.paging import Page, all_pages
from airflow_remote_tasks.platforms.flyte.api import LIST_RUNS_LIMIT, RUN_SERVICE, FlyteApi
from airflow_remote_tasks.platforms.flyte.runs import PHASE_NAMES, PHASES, listed_name, parse_action_status

FILTER_FIELDS = ("task_name", "labels", "phases", "project", "domain")
# The phases a run ends in, as ListRuns' phase filter takes them (enum numbers, as the SDK sends them).
ENDED_PHASES = [str(PHASE_NAMES.index(name)) for name, phase in PHASES.items() if phase.is_terminal]
# A Flyte task's name: "<environment>.<function>", dotted identifiers.
TASK_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)+")


def check_event_filter(event_filter: Mapping[str, Any]) -> EventFilter:
    """:raises ConfigurationError: an unknown field, a task name that is not ``<environment>.<function>``,
    labels that are not names to strings, or phases a run does not end in."""
    check_selector_fields(event_filter, FILTER_FIELDS, "Flyte event filters")
    task = event_filter.get("task_name")
    if not isinstance(task, str) or not TASK_NAME.fullmatch(task):
        raise ConfigurationError(
            f"A Flyte event filter needs 'task_name', the task's full name such as 'my_env.train' (its "
            f"environment, a dot, its function), not {task!r}."
        )
    for name in ("project", "domain"):
        if not isinstance(event_filter.get(name, ""), str):
            raise ConfigurationError(
                f"The event filter's {name!r} must be a string, not {event_filter[name]!r}."
            )
    labels = event_filter.get("labels") or {}
    if not isinstance(labels, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in labels.items()
    ):
        raise ConfigurationError(
            f"The event filter's 'labels' must map label names to strings, not {labels!r}."
        )
    phases = check_phases(event_filter)
    listing = {
        "project": event_filter.get("project", ""),
        "domain": event_filter.get("domain", ""),
        "labels": dict(sorted(labels.items())),
    }
    return EventFilter(listing=listing, task=task, phases=phases)


def ended_runs(api: FlyteApi, listing: Mapping[str, Any], since: datetime) -> Operation[list[EndedRun]]:
    """ListRuns in the listing's project and domain (the connection's where empty), of the runs in an ended
    phase with ``ended_at`` at or after ``since``, every page.

    :raises ConfigurationError: the server does not filter by label (open-source Flyte) and labels were given.
    :raises UnexpectedAnswerError: a listed run's end time is no time. Otherwise raises what ListRuns raises.
    """
    config = api.config
    project, domain = listing.get("project") or config.project, listing.get("domain") or config.domain
    filters: list[dict[str, Any]] = [
        {"function": "VALUE_IN", "field": "phase", "values": ENDED_PHASES},
        {"function": "GREATER_THAN_OR_EQUAL", "field": "ended_at", "values": [stamp(since)]},
    ]
    labels = listing.get("labels") or {}
    filters += [{"function": "EQUAL", "field": f"labels.{k}", "values": [v]} for k, v in labels.items()]
    project_id = {"organization": config.org, "name": project, "domain": domain}

    def page(token: str | None) -> Operation[Page[EndedRun]]:
        request: dict[str, Any] = {"limit": LIST_RUNS_LIMIT, "filters": filters}
        if token:
            request["token"] = token
        try:
            body = yield from api.call(
                f"{RUN_SERVICE}/ListRuns", {"projectId": project_id, "request": request}
            )
        except ApiError as error:
            if error.code == "invalid_argument" and "label" in str(error) and labels:
                raise ConfigurationError(
                    f"This Flyte server does not filter runs by label ({error}); open-source Flyte rejects "
                    "labels.* filters, Union accepts them. Watch the runs by 'task_name' alone."
                ) from None
            raise
        ended = [_ended(api, project, domain, run) for run in body.get("runs", [])]
        return [run for run in ended if run is not None], body.get("token") or None

    return (yield from all_pages(page))


def _ended(api: FlyteApi, project: str, domain: str, run: Mapping[str, Any]) -> EndedRun | None:
    """A listed run as an ended one; None for one the listing shows unended (a server that ignores filters)."""
    action = run.get("action", {})
    status = parse_action_status(action)
    ended_at = (action.get("status") or {}).get("endTime")
    if not status.is_terminal or not ended_at:
        return None
    name = listed_name(run)
    ref = api.ref_for(name)
    ref = ref.model_copy(update={"scope": {**ref.scope, "project": project, "domain": domain}})
    task = str(((action.get("metadata") or {}).get("task") or {}).get("id", {}).get("name", ""))
    try:
        moment = parse_stamp(ended_at, f"Flyte run {name!r} has an endTime")
    except ValueError as error:
        raise UnexpectedAnswerError(f"ListRuns answered a run that cannot be read: {error}.") from None
    return EndedRun(
        ref=ref.model_copy(update={"url": api.config.run_url(project, domain, name)}),
        status=status,
        ended_at=moment,
        task=task,
    )
