"""One poke of a sensor: a wait's procedure (core.waiting) driven up to its first sleep.

Poke mode and reschedule mode run the same procedure as the trigger, so a progress line reads the same in
every mode. What the procedure remembers between polls is kept in ``task_state_store`` (in reschedule mode
every poke is a new process): a line that did not change is not logged again, and reads count as failing
in a row only until one is answered.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, TypeVar

from airflow.sdk import Context
from pydantic import BaseModel, Field

from airflow_remote_tasks.core.errors import RemoteTaskError, is_transient
from airflow_remote_tasks.core.executors import drive
from airflow_remote_tasks.core.retry import WAIT_READS
from airflow_remote_tasks.core.steps import Procedure, Sleep, step_runner
from airflow_remote_tasks.core.waiting import WaitBudgetError, WaitMemory

T = TypeVar("T")
MEMORY_KEY = "remote_run_wait"
# task_state_store values are limited to 64 KB ([state_store] max_value_storage_bytes): the run ids of a
# bigger listing are not kept, and runs leaving the set are then counted by how much it shrank.
MAX_REMEMBERED_BYTES = 48_000


class _Poked(Exception):
    """This poke's read was answered and the wait is not over: the rest is the next poke's."""


class PokeMemory(BaseModel):
    """What one try's pokes keep in ``task_state_store`` under ``MEMORY_KEY`` (with the try's number): in
    reschedule mode every poke is a new process. One record, so a poke reads the store once and writes it
    only when something changed."""

    wait: WaitMemory = Field(default_factory=WaitMemory, description="What the wait's lines logged.")
    failing_since: float | None = Field(
        default=None, description="When (epoch s) the reads began failing; None after any answered read."
    )


def load_memory(context: Context) -> PokeMemory:
    """What earlier pokes of this try kept; a new try (a retry, a clear) starts afresh: it logs its lines
    again and its transient-error budget is whole."""
    kept: Any = context["task_state_store"].get(MEMORY_KEY)
    if not isinstance(kept, dict) or kept.get("try") != context["ti"].try_number:
        return PokeMemory()
    return PokeMemory(
        wait=WaitMemory.model_validate(kept.get("memory") or {}), failing_since=kept.get("failing_since")
    )


def save_memory(context: Context, before: PokeMemory, memory: PokeMemory) -> None:
    """Keep ``memory`` for the next poke, when it changed (one store write per changed line or streak of
    failed reads, not per poke)."""
    listed = memory.wait.listed
    if listed is not None and len(json.dumps(listed)) > MAX_REMEMBERED_BYTES:
        memory = memory.model_copy(update={"wait": memory.wait.model_copy(update={"listed": None})})
    if memory == before:
        return
    value: dict[str, Any] = {
        "try": context["ti"].try_number,
        "memory": memory.wait.model_dump(mode="json"),
        "failing_since": memory.failing_since,
    }
    context["task_state_store"].set(MEMORY_KEY, value)


def poke_once(
    sensor: Any,
    context: Context,
    wait: Callable[..., Procedure[T]],
    target: Callable[[], Any],
    *,
    what: str,
    exceeded: Callable[[float, RemoteTaskError], RemoteTaskError],
    **arguments: Any,
) -> T | None:
    """One poke of a wait: ``wait(platform, target(), **arguments)`` (:func:`core.waiting.wait_for_run` or
    :func:`~core.waiting.wait_for_runs`), polling at the sensor's ``poke_interval``, logging to its log, with
    what earlier pokes remembered, driven up to its first sleep. ``target`` finds what it waits on (a run's
    reference, a selector) inside the poke, so a failure to find it counts as a failed read. The procedure's
    own transient-error budget is 0: its errors are counted across pokes here.

    Returns the wait's outcome, or None while it goes on (its read answered, or a transient error within
    ``sensor.transient_error_budget``).

    :raises RemoteTaskError: ``exceeded(failing_for, last_error)`` once reads have failed transiently for the
        budget; any other error of the procedure as raised (``what`` names the read in warnings).
    """

    def start(memory: WaitMemory) -> Procedure[T]:
        return wait(
            sensor.hook.platform,
            target(),
            poll_interval=sensor.poke_interval,
            transient_error_budget=0.0,
            logger=sensor.log,
            memory=memory,
            **arguments,
        )

    hook = sensor.hook
    run = step_runner(hook.run, read_status=lambda op: hook.run(op, policy=WAIT_READS))

    def respond(step: Any) -> Any:
        if isinstance(step, Sleep):
            raise _Poked
        return run(step)

    before = load_memory(context)
    memory = before.model_copy(deep=True)
    read_at = time.time()
    try:
        outcome = drive(start(memory.wait), respond)
        memory.failing_since = None  # the read was answered: a later failure starts a new streak
        return outcome
    except _Poked:
        memory.failing_since = None
        return None
    except RemoteTaskError as error:
        # The procedure's budget of 0 turns its first transient error into a budget error caused by it.
        cause = error.__cause__ if isinstance(error, WaitBudgetError) else error
        if not isinstance(cause, RemoteTaskError) or not is_transient(cause):
            raise
        if memory.failing_since is None:
            memory.failing_since = read_at
        failing_for = time.time() - memory.failing_since
        if failing_for >= sensor.transient_error_budget:
            raise exceeded(failing_for, cause) from cause
        sensor.log.warning("%s (%s); still waiting.", what, cause)
        return None
    finally:
        save_memory(context, before, memory)
