"""One poke of a sensor: a wait's procedure (core.waiting) driven up to its first sleep.

Poke mode and reschedule mode run the same procedure as the trigger, so a progress line reads the same in
every mode. What the procedure remembers between polls is kept in ``task_state_store`` (in reschedule mode
every poke is a new process): a line that did not change is not logged again.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, TypeVar

from airflow.sdk import Context

from airflow_remote_tasks.core.errors import RemoteTaskError, is_transient
from airflow_remote_tasks.core.executors import drive
from airflow_remote_tasks.core.retry import WAIT_READS
from airflow_remote_tasks.core.waiting import Procedure, Sleep, WaitBudgetError, WaitMemory, step_runner

T = TypeVar("T")
FAILING_KEY = "remote_run_read_failures"
MEMORY_KEY = "remote_run_wait"
# task_state_store values are limited to 64 KB ([state_store] max_value_storage_bytes): the run ids of a
# bigger listing are not kept, and runs leaving the set are then counted by how much it shrank.
MAX_REMEMBERED_BYTES = 48_000


class _Poked(Exception):
    """This poke's read was answered and the wait is not over: the rest is the next poke's."""


def failing_for_seconds(context: Context, read_at: float, poke_interval: float) -> float:
    """How long a poking sensor has failed to read, this transient error included: kept across pokes in
    ``task_state_store``, since in reschedule mode every poke is a new process. Failures further apart than
    two poke intervals are not consecutive: a read succeeded between them."""
    store = context["task_state_store"]
    seen: dict[str, float] = store.get(FAILING_KEY) or {}  # type: ignore[assignment]
    since = seen.get("since", read_at)
    if read_at - seen.get("last", read_at) > 2 * poke_interval + 60:
        since = read_at
    store.set(FAILING_KEY, {"since": since, "last": time.time()})
    return time.time() - since


def load_memory(context: Context) -> WaitMemory:
    """What earlier pokes of this try logged; a new try (a retry, a clear) starts afresh and logs again."""
    kept: Any = context["task_state_store"].get(MEMORY_KEY)
    if not isinstance(kept, dict) or kept.get("try") != context["ti"].try_number:
        return WaitMemory()
    return WaitMemory.model_validate(kept.get("memory") or {})


def save_memory(context: Context, before: WaitMemory, memory: WaitMemory) -> None:
    """Keep ``memory`` for the next poke, when it changed (one store write per changed line, not per poke)."""
    if memory.listed is not None and len(json.dumps(memory.listed)) > MAX_REMEMBERED_BYTES:
        memory = memory.model_copy(update={"listed": None})
    if memory == before:
        return
    value: dict[str, Any] = {"try": context["ti"].try_number, "memory": memory.model_dump(mode="json")}
    context["task_state_store"].set(MEMORY_KEY, value)


def poke_once(
    sensor: Any,
    context: Context,
    start: Callable[[WaitMemory], Procedure[T]],
    exceeded: Callable[[float, RemoteTaskError], RemoteTaskError],
    what: str,
) -> T | None:
    """Drive the procedure ``start(memory)`` returns (started with a transient-error budget of 0: its
    errors are counted across pokes here) up to its first sleep. Returns its outcome, or None while the
    wait goes on (its read answered, or a transient error within ``sensor.transient_error_budget``).

    :raises RemoteTaskError: ``exceeded(failing_for, last_error)`` once reads have failed transiently for the
        budget; any other error of the procedure as raised (``what`` names the read in warnings).
    """
    hook = sensor.hook
    run = step_runner(hook.run, read_status=lambda op: hook.run(op, policy=WAIT_READS))

    def answer(step: Any) -> Any:
        if isinstance(step, Sleep):
            raise _Poked
        return run(step)

    before = load_memory(context)
    memory = before.model_copy(deep=True)
    read_at = time.time()
    try:
        return drive(start(memory), answer)
    except _Poked:
        return None
    except RemoteTaskError as error:
        # The procedure's budget of 0 turns its first transient error into a budget error caused by it.
        cause = error.__cause__ if isinstance(error, WaitBudgetError) else error
        if not isinstance(cause, RemoteTaskError) or not is_transient(cause):
            raise
        failing_for = failing_for_seconds(context, read_at, sensor.poke_interval)
        if failing_for >= sensor.transient_error_budget:
            raise exceeded(failing_for, cause) from cause
        sensor.log.warning("%s (%s); still waiting.", what, cause)
        return None
    finally:
        save_memory(context, before, memory)
