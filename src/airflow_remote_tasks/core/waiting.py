"""Waiting for a run, written once as a procedure and driven by the worker or the triggerer.

A procedure yields operations (to be executed) and :class:`Sleep` steps; errors from an operation are
thrown back into it, so the decision "transient, keep waiting" or "fatal, stop" lives here only.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from pydantic import BaseModel

from airflow_remote_tasks.core.errors import RemoteTaskError, clip, is_transient
from airflow_remote_tasks.core.models import Progress, RunRef, RunStatus
from airflow_remote_tasks.core.operation import Operation
from airflow_remote_tasks.core.phases import TERMINAL_PHASES, Phase
from airflow_remote_tasks.core.platform import Platform

T = TypeVar("T")
log = logging.getLogger(__name__)
# Progress lines logged per poll at most; the rest are counted, so a busy run cannot flood the task log.
MAX_PROGRESS_LINES = 20


@dataclass(frozen=True)
class Sleep:
    seconds: float


@dataclass(frozen=True)
class ReadStatus:
    """Read a run's status: with ``operation`` alone, or batched with other waits' reads by the driver."""

    ref: RunRef
    operation: Operation[RunStatus]


Step = Operation[Any] | Sleep | ReadStatus
StatusReader = Callable[[RunRef], Awaitable[RunStatus]]
Procedure = Generator[Step, Any, T]


class WaitOutcome(BaseModel):
    """How a wait ended. Travels as a trigger event payload, so it is plain JSON."""

    outcome: Literal["reached", "timeout"]
    ref: RunRef
    status: RunStatus | None = None

    def to_event(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class BudgetExceededError(RemoteTaskError):
    """A wait could not read its run's state for longer than its transient-error budget. The run was not
    stopped: a retry attaches to it again."""

    def __init__(self, ref: RunRef, failing_for: float, budget: float, last: BaseException) -> None:
        super().__init__(
            f"Could not read the state of run {ref.run_id} for {failing_for:.0f}s, which used up "
            f"transient_error_budget={budget:g}s (last error: {last}). The run was not stopped and may still "
            f"be going{': ' + ref.url if ref.url else ''}. A retry of this task waits on the same run again."
        )


def wait_for_run(
    platform: Platform,
    ref: RunRef,
    *,
    poll_interval: float,
    targets: frozenset[Phase] = TERMINAL_PHASES,
    deadline: float | None = None,
    transient_error_budget: float = 600.0,
    logger: Any = log,
) -> Procedure[WaitOutcome]:
    """Poll until the run reaches a target phase (or any terminal one), or ``deadline`` (epoch seconds)."""
    last: tuple[Phase, str, float | None] | None = None
    failing_since: float | None = None
    seen_steps = 0
    while True:
        if deadline is not None and time.time() >= deadline:
            return WaitOutcome(outcome="timeout", ref=ref, status=None)
        read_at = time.monotonic()
        try:
            status: RunStatus = yield ReadStatus(ref, platform.status(ref))
        except Exception as error:
            if not is_transient(error):
                raise
            failing_since = failing_since or read_at
            failing_for = time.monotonic() - failing_since
            if failing_for >= transient_error_budget:
                raise BudgetExceededError(ref, failing_for, transient_error_budget, error) from error
            logger.warning("Could not read the state of run %s (%s); still waiting.", ref.run_id, error)
            yield Sleep(min(poll_interval, 30.0, transient_error_budget - failing_for))
            continue
        failing_since = None
        if status.steps > seen_steps:
            seen_steps = yield from _log_progress(platform, ref, seen_steps, logger)
        if (status.phase, status.raw_phase, status.percent) != last:
            logger.info("Run %s is %s", ref.run_id, status.describe())
            last = (status.phase, status.raw_phase, status.percent)
        if status.phase in targets or status.is_terminal:
            return WaitOutcome(outcome="reached", ref=ref, status=status)
        pause = poll_interval
        if deadline is not None:
            pause = max(min(pause, deadline - time.time()), 0.0)
        yield Sleep(pause)


def _log_progress(platform: Platform, ref: RunRef, seen: int, logger: Any) -> Procedure[int]:
    """Log the run's new progress events, a bounded number per poll; progress is never worth a failure."""
    try:
        progress: Progress = yield platform.progress(ref, seen)
    except RemoteTaskError as error:
        logger.warning("Could not read the progress of run %s (%s).", ref.run_id, error)
        return seen
    lines = progress.lines
    for line in lines[:MAX_PROGRESS_LINES]:
        logger.info("Run %s: %s", ref.run_id, clip(line))
    if len(lines) > MAX_PROGRESS_LINES:
        logger.info("Run %s: ... and %d more steps", ref.run_id, len(lines) - MAX_PROGRESS_LINES)
    return progress.seen


def step_runner(
    run: Callable[[Operation[Any]], Any],
    sleep: Callable[[float], None] = time.sleep,
    read_status: Callable[[Operation[Any]], Any] | None = None,
) -> Callable[[Step], Any]:
    """How the worker answers a procedure's steps (for :func:`~airflow_remote_tasks.core.executors.drive`)."""

    def answer(step: Step) -> Any:
        if isinstance(step, Sleep):
            return sleep(step.seconds)
        if isinstance(step, ReadStatus):
            return (read_status or run)(step.operation)
        return run(step)

    return answer


def astep_runner(
    run: Callable[[Operation[Any]], Awaitable[Any]],
    sleep: Callable[[float], Awaitable[None]],
    read_status: StatusReader | None = None,
) -> Callable[[Step], Awaitable[Any]]:
    """How the triggerer answers a procedure's steps; ``read_status`` may batch status reads."""

    async def answer(step: Step) -> Any:
        if isinstance(step, Sleep):
            return await sleep(step.seconds)
        if isinstance(step, ReadStatus):
            if read_status is None:
                return await run(step.operation)
            step.operation.close()
            return await read_status(step.ref)
        return await run(step)

    return answer
