"""Reading Airflow connections: in the worker, and shared among the triggerer's triggers."""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseHook

from airflow_remote_tasks.core.errors import ConfigurationError
from airflow_remote_tasks.core.loops import SingleFlight
from airflow_remote_tasks.core.platform import Platform

# A triggerer that starts ten thousand deferred tasks on one connection reads (and masks) that connection
# once, not ten thousand times; an edited connection reaches new triggers within this many seconds.
CONNECTION_TTL = 10.0

# Platforms built from a connection read on this event loop, by (hook class, connection id): one read in
# flight per connection, its platform kept CONNECTION_TTL seconds (the one eviction rule: SingleFlight's).
RECENT_PLATFORMS: SingleFlight[Platform] = SingleFlight(keep_for=CONNECTION_TTL)


def get_connection(conn_id: str) -> Any:
    """:raises ConfigurationError: the connection is not defined, saying where to define it."""
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        return BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        raise missing(conn_id) from None


async def aget_connection(conn_id: str) -> Any:
    """:raises ConfigurationError: as :func:`get_connection`."""
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        return await BaseHook.aget_connection(conn_id)
    except AirflowNotFoundException:
        raise missing(conn_id) from None


def missing(conn_id: str) -> ConfigurationError:
    return ConfigurationError(
        f"Connection {conn_id!r} is not defined. Add it under Admin > Connections, or set the environment "
        f"variable AIRFLOW_CONN_{conn_id.upper()}."
    )
