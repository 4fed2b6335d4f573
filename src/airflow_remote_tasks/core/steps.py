"""The steps of a wait procedure, and how the worker and the triggerer answer them.

A procedure (a wait) is a generator like an operation, one level up: it yields operations to execute,
:class:`Sleep` pauses, and the reads other waits may share (:class:`ReadStatus`, :class:`ListRuns`); the
drivers in :mod:`~airflow_remote_tasks.core.executors` send back each step's answer.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass
from typing import Any, TypeVar

from airflow_remote_tasks.core.models import ListedRun, RunRef, RunStatus
from airflow_remote_tasks.core.operation import Operation

T = TypeVar("T")


@dataclass(frozen=True)
class Sleep:
    seconds: float
    # The run a wait pauses between reads of: the triggerer may end the pause as soon as a stream of run
    # updates shows the run ended (``pause`` of :func:`astep_runner`). The worker just sleeps.
    watch: RunRef | None = None


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
    pause: Callable[[RunRef, float], Awaitable[None]] | None = None,
) -> Callable[[Step], Awaitable[Any]]:
    """How the triggerer answers a procedure's steps; ``read_status`` may batch status reads (or answer them
    from a stream of run updates), ``list_runs`` share listings between waits on one selector, and ``pause``
    take a wait's pause between reads of a run (one a stream may end early)."""

    async def respond(step: Step) -> Any:
        if isinstance(step, Sleep):
            if pause is not None and step.watch is not None:
                return await pause(step.watch, step.seconds)
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
