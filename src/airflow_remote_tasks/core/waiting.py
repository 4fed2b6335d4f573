"""Waiting for a run, written once as a procedure and driven by the worker or the triggerer.

A procedure yields operations (to be executed) and :class:`Sleep` steps; errors from an operation are
thrown back into it, so the decision "transient, keep waiting" or "fatal, stop" lives here only.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, Field

from airflow_remote_tasks.core.errors import (
    NotFoundError,
    PermanentError,
    RemoteRunError,
    RemoteTaskError,
    clip,
    is_transient,
)
from airflow_remote_tasks.core.models import ListedRun, Progress, RunRef, RunStatus
from airflow_remote_tasks.core.operation import Operation
from airflow_remote_tasks.core.phases import FAILURE_PHASES, TERMINAL_PHASES, Phase
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


@dataclass(frozen=True)
class ListRuns:
    """List the runs a selector selects: with ``operation`` alone, or shared with other waits on the same
    selector by the driver (``key`` names the selector)."""

    key: str
    operation: Operation[list[ListedRun]]


Step = Operation[Any] | Sleep | ReadStatus | ListRuns
StatusReader = Callable[[RunRef], Awaitable[RunStatus]]
Procedure = Generator[Step, Any, T]


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


class WaitMemory(BaseModel):
    """What a wait remembers from one poll to the next, so a person reads each line once: in the triggerer's
    memory, and across a sensor's pokes in ``task_state_store`` (each reschedule-mode poke is a new process)."""

    line: str = Field(default="", description="The last progress line logged.")
    steps: int = Field(default=0, description="Progress events logged so far.")
    words: list[str] = Field(default_factory=list, description="Unknown status words named so far.")
    listed: list[str] | None = Field(
        default=None, description="Run ids of the last listing; None before it, or when too many to keep."
    )
    listed_count: int = 0


class WaitBudgetError(RemoteTaskError):
    """A wait could not read for longer than its transient-error budget."""


class BudgetExceededError(WaitBudgetError):
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
    memory: WaitMemory | None = None,
) -> Procedure[WaitOutcome]:
    """Poll until the run reaches a target phase (or any terminal one), or ``deadline`` (epoch seconds).
    ``memory`` (updated in place) carries what was logged over from earlier polls.

    :raises BudgetExceededError: reads failed transiently for ``transient_error_budget`` seconds.
    :raises RemoteTaskError: any error that is not transient, as the platform raised it."""
    memory = memory if memory is not None else WaitMemory()
    failing_since: float | None = None
    while True:
        if deadline is not None and time.time() >= deadline:
            return WaitOutcome(outcome="timeout", ref=ref, status=None)
        read_at = time.monotonic()
        try:
            status: RunStatus = yield ReadStatus(ref, platform.status(ref))
        except Exception as error:
            failing_since = yield from _tolerate(
                error,
                failing_since or read_at,
                transient_error_budget,
                poll_interval,
                lambda failing_for, last: BudgetExceededError(ref, failing_for, transient_error_budget, last),
                logger,
                f"Could not read the state of run {ref.run_id}",
            )
            continue
        failing_since = None
        if status.steps > memory.steps:
            memory.steps = yield from _log_progress(platform, ref, memory.steps, logger)
        if status.phase is Phase.UNKNOWN:
            _name_unknown_words(memory, logger, f"Run {ref.run_id}", {status.raw_phase: 1})
        _log_line(memory, logger, run_line(ref, status))
        if status.phase in targets or status.is_terminal:
            return WaitOutcome(outcome="reached", ref=ref, status=status)
        pause = poll_interval + platform.poll_delay()
        if deadline is not None:
            pause = max(min(pause, deadline - time.time()), 0.0)
        yield Sleep(pause)


def run_line(ref: RunRef, status: RunStatus) -> str:
    """The progress line of a wait on one run, in the worker and the triggerer alike."""
    return f"Run {ref.run_id} is {status.describe()}"


def set_line(key: str, counts: dict[str, int], targets: frozenset[Phase]) -> str:
    """The progress line of a wait on a set of runs, in the worker and the triggerer alike."""
    return f"Runs of {key}: {describe_counts(counts, targets) if counts else 'no runs selected yet'}"


def _log_line(memory: WaitMemory, logger: Any, line: str) -> None:
    """Log a progress line unless it is the one logged last (at this poll or an earlier one)."""
    if line != memory.line:
        logger.info("%s", line)
        memory.line = line


def _name_unknown_words(memory: WaitMemory, logger: Any, where: str, words: dict[str, int]) -> None:
    """Name each status word that no table maps once per wait; such runs count as ``unknown``."""
    new = sorted(set(words).difference(memory.words))
    if not new:
        return
    memory.words = [*memory.words, *new]
    named = ", ".join(f"{word!r} ({words[word]} run{'s' if words[word] != 1 else ''})" for word in new)
    logger.warning(
        "%s: the platform's status word %s is not in the provider's table, so it counts as unknown (not "
        "finished) until the run reaches a known one or the wait's timeout passes. Where the connection has "
        "a Status words field, say there what it means.",
        where,
        named,
    )


def _tolerate(
    error: Exception,
    failing_since: float,
    budget: float,
    poll_interval: float,
    exceeded: Callable[[float, Exception], RemoteTaskError],
    logger: Any,
    what: str,
) -> Procedure[float]:
    """A wait's answer to an error from its read: re-raised unless transient; the ``exceeded`` error once
    reads have failed for ``budget`` seconds since ``failing_since``; else ``what`` is logged and it sleeps."""
    if not is_transient(error):
        raise error
    failing_for = time.monotonic() - failing_since
    if failing_for >= budget:
        raise exceeded(failing_for, error) from error
    logger.warning("%s (%s); still waiting.", what, error)
    yield Sleep(min(poll_interval, 30.0, budget - failing_for))
    return failing_since


# Run ids handed to XCom at most: counts cover the rest.
MAX_LISTED_IDS = 1000


class ListingBudgetError(WaitBudgetError):
    """A set wait could not list its runs for longer than its transient-error budget."""

    def __init__(self, key: str, failing_for: float, budget: float, last: BaseException) -> None:
        super().__init__(
            f"Could not list the runs of selector {key} for {failing_for:.0f}s, which used up "
            f"transient_error_budget={budget:g}s (last error: {last}). A retry waits again."
        )


class SelectorNotFoundError(PermanentError):
    """The platform answered a selector's listing with "not found": what the selector names does not exist
    (or this connection cannot see it). Waiting cannot help."""

    def __init__(self, key: str, platform: str, error: NotFoundError) -> None:
        super().__init__(
            f"The runs of selector {key} cannot be listed: {platform} answered that something it names does "
            f"not exist ({error}). Check the selector's ids (and that this connection may see them)."
        )


class SetOutcome(BaseModel):
    """How a wait on a set of runs ended: counts by phase and the runs' ids. Plain JSON (a trigger event)."""

    outcome: Literal["reached", "timeout"]
    counts: dict[str, int]
    total: int
    run_ids: list[str]

    def to_event(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def describe_counts(counts: dict[str, int], targets: frozenset[Phase]) -> str:
    """ "41/57 succeeded, 12 running, 4 queued": the targets first, then the rest by size."""
    total = sum(counts.values())
    reached = sum(n for phase, n in counts.items() if Phase(phase) in targets)
    target = " or ".join(sorted(p.value for p in targets))
    rest = sorted(((n, p) for p, n in counts.items() if Phase(p) not in targets), reverse=True)
    return ", ".join([f"{reached}/{total} {target}", *(f"{n} {p}" for n, p in rest)])


def wait_for_runs(
    platform: Platform,
    selector: dict[str, Any],
    *,
    poll_interval: float,
    targets: frozenset[Phase],
    min_count: int = 1,
    fail_on_failure: bool = True,
    deadline: float | None = None,
    transient_error_budget: float = 600.0,
    logger: Any = log,
    memory: WaitMemory | None = None,
) -> Procedure[SetOutcome]:
    """Poll the selector's listing until at least ``min_count`` runs are selected and all reached ``targets``.
    Runs that leave the set between polls are logged with their count; ``memory`` as in :func:`wait_for_run`.

    :raises RemoteRunError: a selected run failed (unless ``fail_on_failure=False``, or failing is a target).
    :raises SelectorNotFoundError: the platform does not know what the selector names.
    :raises ListingBudgetError: listings failed transiently for ``transient_error_budget`` seconds.
    """
    key = json.dumps(selector, sort_keys=True)
    memory = memory if memory is not None else WaitMemory()
    failing_since: float | None = None
    while True:
        if deadline is not None and time.time() >= deadline:
            return SetOutcome(outcome="timeout", counts={}, total=0, run_ids=[])
        read_at = time.monotonic()
        try:
            runs: list[ListedRun] = yield ListRuns(key, platform.list_runs(selector))
        except NotFoundError as error:
            raise SelectorNotFoundError(key, platform.name, error) from error
        except Exception as error:
            failing_since = yield from _tolerate(
                error,
                failing_since or read_at,
                transient_error_budget,
                poll_interval,
                lambda failing_for, last: ListingBudgetError(key, failing_for, transient_error_budget, last),
                logger,
                f"Could not list the runs of selector {key}",
            )
            continue
        failing_since = None
        counts: dict[str, int] = {}
        unknown: dict[str, int] = {}
        for run in runs:
            counts[run.status.phase.value] = counts.get(run.status.phase.value, 0) + 1
            if run.status.phase is Phase.UNKNOWN:
                unknown[run.status.raw_phase] = unknown.get(run.status.raw_phase, 0) + 1
        _note_departures(memory, logger, key, [r.run_id for r in runs])
        _name_unknown_words(memory, logger, f"Runs of {key}", unknown)
        _log_line(memory, logger, set_line(key, counts, targets))
        failed = [r for r in runs if r.status.phase in FAILURE_PHASES and r.status.phase not in targets]
        if failed and fail_on_failure:
            examples = ", ".join(f"{r.run_id} ({r.status.raw_phase})" for r in failed[:5])
            raise RemoteRunError(
                f"{len(failed)} of the {len(runs)} runs selected by {key} failed: {examples}"
                f"{' ...' if len(failed) > 5 else ''}. Set fail_on_failure=False to wait on regardless.",
                phase=failed[0].status.phase.value,
            )
        settled = all(
            r.status.phase in targets or (r.status.is_terminal and not fail_on_failure) for r in runs
        )
        if len(runs) >= min_count and settled:
            return SetOutcome(
                outcome="reached",
                counts=counts,
                total=len(runs),
                run_ids=[r.run_id for r in runs[:MAX_LISTED_IDS]],
            )
        yield Sleep(poll_interval + platform.poll_delay())


def _note_departures(memory: WaitMemory, logger: Any, key: str, ids: list[str]) -> None:
    """Log the runs listed at the last poll that this listing no longer holds (a status filter they left, a
    run deleted...): they are no longer waited on. Where the last ids were too many to keep, the count that
    the set shrank by is a lower bound of those that left."""
    if memory.listed is not None:
        left = sorted(set(memory.listed).difference(ids))
        if left:
            examples = ", ".join(left[:5]) + (" ..." if len(left) > 5 else "")
            logger.info(
                "Runs of %s: %d run(s) listed at the last poll are no longer selected (%s); they are not "
                "waited on any more.",
                key,
                len(left),
                examples,
            )
    elif memory.listed_count > len(ids):
        logger.info(
            "Runs of %s: %d fewer runs are selected than at the last poll; those that left are not waited on.",
            key,
            memory.listed_count - len(ids),
        )
    memory.listed = ids
    memory.listed_count = len(ids)


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

    def respond(step: Step) -> Any:
        if isinstance(step, Sleep):
            return sleep(step.seconds)
        if isinstance(step, ReadStatus):
            return (read_status or run)(step.operation)
        if isinstance(step, ListRuns):
            return (read_status or run)(step.operation)
        return run(step)

    return respond


def astep_runner(
    run: Callable[[Operation[Any]], Awaitable[Any]],
    sleep: Callable[[float], Awaitable[None]],
    read_status: StatusReader | None = None,
    list_runs: Callable[[ListRuns], Awaitable[list[ListedRun]]] | None = None,
) -> Callable[[Step], Awaitable[Any]]:
    """How the triggerer answers a procedure's steps; ``read_status`` may batch status reads and
    ``list_runs`` share listings between waits on one selector."""

    async def respond(step: Step) -> Any:
        if isinstance(step, Sleep):
            return await sleep(step.seconds)
        if isinstance(step, ListRuns):
            if list_runs is None:
                return await run(step.operation)
            return await list_runs(step)
        if isinstance(step, ReadStatus):
            if read_status is None:
                return await run(step.operation)
            step.operation.close()
            return await read_status(step.ref)
        return await run(step)

    return respond
