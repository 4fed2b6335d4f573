"""A Flyte run's data, read through the data plane SelectCluster names: its outputs and its logs."""

from __future__ import annotations

from typing import Any

from airflow_remote_tasks.core.errors import NotFoundError
from airflow_remote_tasks.core.models import RunRef, RunStatus
from airflow_remote_tasks.core.operation import Operation, StreamLimits
from airflow_remote_tasks.platforms.flyte import connect, literals
from airflow_remote_tasks.platforms.flyte.api import DATA_PROXY, FlyteApi

# The log stream stays open after the pod exits: it is read until it goes quiet this long, at most this much.
LOG_TAIL = StreamLimits(idle_timeout=3.0, max_bytes=2 << 20)


def outputs(api: FlyteApi, ref: RunRef) -> Operation[Any]:
    """One output is returned as itself; several as a dict by name (``multiple_outputs`` splits it).
    Raises what the calls raise."""
    action_id = api.action_id(ref)
    base = yield from api.select_cluster("OPERATION_GET_ACTION_DATA", {"actionId": action_id})
    body = yield from api.on_data_plane(
        base,
        lambda refused: api.call(
            f"{DATA_PROXY}/GetActionData", {"actionId": action_id}, base=base, refused=refused
        ),
    )
    named = {
        item["name"]: literals.decode(item.get("value", {}))
        for item in body.get("outputs", {}).get("literals", [])
    }
    return next(iter(named.values())) if len(named) == 1 else named


def logs(api: FlyteApi, ref: RunRef, status: RunStatus, max_lines: int) -> Operation[list[str]]:
    """The last ``max_lines`` lines of the action's latest attempt (TailLogs); none when it has no logs.
    Raises what the calls raise otherwise."""
    action_id = api.action_id(ref)
    try:
        base = yield from api.select_cluster("OPERATION_TAIL_LOGS", {"actionId": action_id})
        messages = yield from api.on_data_plane(
            base,
            lambda refused: connect.server_stream(
                base,
                f"{DATA_PROXY}/TailLogs",
                {"actionId": action_id, "attempt": max(status.attempts, 1)},
                LOG_TAIL,
                refused=refused,
            ),
        )
    except NotFoundError:
        return []
    lines = [
        str(line.get("message", "")).rstrip("\n")
        for message in messages
        for batch in message.get("logs", [])
        for line in batch.get("lines", [])
    ]
    return lines[-max_lines:]
