"""Starting a run at most once when an answer may be lost: look up, create, and look up again after a failure.

A create is not safe to send twice (most platforms have no idempotency key), yet its answer may be lost after
the platform acted on it. So a create that failed transiently is followed by a lookup, which attaches to the
run that create started, if it did, before another create is sent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from airflow_remote_tasks.core.errors import RemoteTaskError, is_transient
from airflow_remote_tasks.core.operation import Operation, starting_run

T = TypeVar("T")

# Creates of one run at most: a transient failure gets two more chances (after a lookup each), and a platform
# that keeps failing fails the task in seconds, which Airflow's retries then take over.
CREATE_ATTEMPTS = 3


def create_once(
    find: Callable[[], Operation[T | None]],
    create: Callable[[], Operation[T]],
    *,
    look_first: bool = True,
    attempts: int = CREATE_ATTEMPTS,
) -> Operation[T]:
    """What ``find()`` finds (unless ``look_first`` is False: the first lookup is skipped where nothing can
    exist yet), else what ``create()`` returns, its requests marked as starting a run. After a transient
    failure of a create, ``find()`` is asked again and what it finds is attached to; else the create is sent
    again, ``attempts`` creates at most.

    :raises RemoteTaskError: what ``find()`` raised, or what the last create raised (a permanent failure at
        once, a transient one after ``attempts`` creates).
    :raises ValueError: when ``attempts`` is below 1.
    """
    if attempts < 1:
        raise ValueError(f"attempts must be at least 1, not {attempts}")
    for attempt in range(1, attempts + 1):
        if look_first or attempt > 1:
            found = yield from find()
            if found is not None:
                return found
        try:
            return (yield from starting_run(create()))
        except RemoteTaskError as error:
            if attempt == attempts or not is_transient(error):
                raise
    raise AssertionError("every attempt returns or raises")
