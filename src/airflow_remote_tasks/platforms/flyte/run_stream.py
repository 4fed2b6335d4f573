"""RunService/WatchRuns on the wire, sans-I/O: the call for one project and domain, the run statuses its
messages tell of, and what each way a stream ends means for when to ask again. The streams the triggerer's
waits follow are in :mod:`~airflow_remote_tasks.platforms.flyte.watch`."""

from __future__ import annotations

import enum
from typing import Any

import httpx

from airflow_remote_tasks.core.errors import ApiError, is_transient
from airflow_remote_tasks.core.models import RunStatus
from airflow_remote_tasks.core.operation import Operation, StreamLimits
from airflow_remote_tasks.platforms.flyte import connect
from airflow_remote_tasks.platforms.flyte.api import RUN_SERVICE, FlyteApi
from airflow_remote_tasks.platforms.flyte.runs import listed_name, parse_action_status

WATCH_RUNS = f"{RUN_SERVICE}/WatchRuns"
# A stream silent this long is taken for dropped: proxies end idle streams without always closing them, and a
# quiet project costs one batched read per this interval at most.
WATCH_IDLE_SECONDS = 300.0
# The stream's request. The triggerer reads it as it comes; an executor (a replay) reads it whole, up to 4 MiB.
WATCH_LIMITS = StreamLimits(idle_timeout=WATCH_IDLE_SECONDS, max_bytes=4 << 20)
# Connect codes that mean the server has no stream to give, whatever the time.
REFUSING_CODES = frozenset({"unimplemented", "not_found"})


def watch_runs(api: FlyteApi, org: str, project: str, domain: str) -> Operation[list[dict[str, Any]]]:
    """The WatchRuns call for one project and domain. Read whole (by an executor) it gives the messages; the
    triggerer reads them as they arrive, and what returns is then only the end.

    :raises RemoteTaskError: the refusal or error the server answered, as :func:`connect.server_stream` reads it.
    """
    project_id = {"organization": org, "name": project, "domain": domain}
    return connect.server_stream(api.config.endpoint, WATCH_RUNS, {"projectId": project_id}, WATCH_LIMITS)


def updated_statuses(message: dict[str, Any]) -> dict[str, RunStatus]:
    """The runs a WatchRunsResponse tells of, by run name, each with its status (an Action carries no
    failure message: that is read from GetRunDetails)."""
    return {
        listed_name(run): parse_action_status(run.get("action", {}))
        for run in message.get("runs", [])
        if isinstance(run, dict)
    }


class Ending(enum.Enum):
    """How a stream ended, and so how soon it is asked for again."""

    DROPPED = "dropped"  # it ended, cleanly or not, or broke: ask again soon, backing off
    REFUSED = "refused"  # the server will not stream it (no WatchRuns, refused credentials): ask much later


def ending_of(error: BaseException | None) -> Ending:
    """A clean end or a transient failure is a drop; an error that asking again will not change, a refusal."""
    if isinstance(error, ApiError) and (error.code in REFUSING_CODES or error.status in (404, 501)):
        return Ending.REFUSED
    if error is None or is_transient(error) or isinstance(error, httpx.HTTPError):
        return Ending.DROPPED
    return Ending.REFUSED
