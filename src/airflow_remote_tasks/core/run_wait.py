"""Waiting for one run, written once as a procedure and driven by the worker or the triggerer."""

from __future__ import annotations

import logging
import time
from typing import Any, Literal

from pydantic import BaseModel, Field

from airflow_remote_tasks.core.errors import RemoteTaskError, clip
from airflow_remote_tasks.core.models import Progress, RunRef, RunStatus
from airflow_remote_tasks.core.phases import TERMINAL_PHASES, Phase
from airflow_remote_tasks.core.platform import Platform
from airflow_remote_tasks.core.steps import Procedure, ReadStatus, Sleep
from airflow_remote_tasks.core.waiting import (
    WaitBudgetError,
    WaitMemory,
    log_line,
    name_unknown_words,
    tolerated_read,
)

log = logging.getLogger(__name__)
# Progress lines logged per poll at most; the rest are counted, so a busy run cannot flood the task log.
MAX_PROGRESS_LINES = 20


class WaitOutcome(BaseModel):
    """How a wait ended. Travels as a trigger event payload, so it is plain JSON."""

    outcome: Literal["reached", "timeout"]
    ref: RunRef
    status: RunStatus | None = None
    result: dict[str, Any] | None = Field(
        default=None, description="What a sensor hands XCom (core.run_outcome), where the trigger read it."
    )

    def to_event(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class BudgetExceededError(WaitBudgetError):
    """A wait could not read its run's state for longer than its transient-error budget. The run was not
    stopped: a retry attaches to it again."""

    def __init__(self, ref: RunRef, failing_for: float, budget: float, last: BaseException) -> None:
        super().__init__(
            self.failing(ref.run_id),
            failing_for,
            budget,
            last,
            f"The run was not stopped and may still be going{': ' + ref.url if ref.url else ''}. A retry of "
            "this task waits on the same run again.",
        )

    @staticmethod
    def failing(run_id: str) -> str:
        """What fails, in the words of the warnings while the budget lasts and of this error."""
        return f"Could not read the state of run {run_id}"


def wait_for_run(
    platform: Platform,
    ref: RunRef,
    *,
    poll_interval: float,
    targets: frozenset[Phase] = TERMINAL_PHASES,
    deadline: float | None = None,
    transient_error_budget: float = 600.0,
    logger: Any = log,
    memory: WaitMemory | None = None,
) -> Procedure[WaitOutcome]:
    """Poll until the run reaches a target phase (or any terminal one), or ``deadline`` (epoch seconds).
    ``memory`` (updated in place) carries what was logged over from earlier polls.

    :raises BudgetExceededError: reads failed transiently for ``transient_error_budget`` seconds.
    :raises RemoteTaskError: any error that is not transient, as the platform raised it."""
    memory = memory if memory is not None else WaitMemory()
    while True:
        status: RunStatus | None = yield from tolerated_read(
            lambda: ReadStatus(ref, platform.status(ref)),
            what=BudgetExceededError.failing(ref.run_id),
            exceeded=lambda failing_for, last: BudgetExceededError(
                ref, failing_for, transient_error_budget, last
            ),
            budget=transient_error_budget,
            poll_interval=poll_interval,
            deadline=deadline,
            logger=logger,
        )
        if status is None:
            return WaitOutcome(outcome="timeout", ref=ref, status=None)
        if status.steps > memory.steps:
            memory.steps = yield from _log_progress(platform, ref, memory.steps, logger)
        if status.phase is Phase.UNKNOWN:
            name_unknown_words(memory, logger, f"Run {ref.run_id}", {status.raw_phase: 1})
        log_line(memory, logger, run_line(ref, status))
        if status.phase in targets or status.is_terminal:
            return WaitOutcome(outcome="reached", ref=ref, status=status)
        pause = poll_interval + platform.poll_delay()
        if deadline is not None:
            pause = max(min(pause, deadline - time.time()), 0.0)
        yield Sleep(pause, watch=ref)


def run_line(ref: RunRef, status: RunStatus) -> str:
    """The progress line of a wait on one run, in the worker and the triggerer alike."""
    return f"Run {ref.run_id} is {status.describe()}"


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
