"""What every wait shares, in the worker and the triggerer alike: its memory from one poll to the next, a read
retried within the transient-error budget, the one message for a budget used up, and its progress lines.

The waits themselves are procedures (:mod:`~airflow_remote_tasks.core.steps`): on one run in
:mod:`~airflow_remote_tasks.core.run_wait`, on a set of runs in :mod:`~airflow_remote_tasks.core.set_wait`.
Errors from a read are thrown back into the procedure, so the decision "transient, keep waiting" or "fatal,
stop" lives here only.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel, Field

from airflow_remote_tasks.core.errors import RemoteTaskError, is_transient
from airflow_remote_tasks.core.steps import Procedure, Sleep, Step

T = TypeVar("T")


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
    """A wait could not read for longer than its transient-error budget. The one message for it: ``what``
    could not be done (the words of the warnings logged meanwhile), for how long, the budget, the last error,
    and ``then``, what a retry does."""

    def __init__(self, what: str, failing_for: float, budget: float, last: BaseException, then: str) -> None:
        super().__init__(
            f"{what} for {failing_for:.0f}s, which used up transient_error_budget={budget:g}s (last error: "
            f"{last}). {then}"
        )


# What a tolerated read's failure is turned into once the budget is used up: (seconds failing, last error).
Exceeded = Callable[[float, Exception], RemoteTaskError]


def tolerated_read(
    step: Callable[[], Step],
    *,
    what: str,
    exceeded: Exceeded,
    budget: float,
    poll_interval: float,
    deadline: float | None,
    logger: Any,
) -> Procedure[Any | None]:
    """The answer to the step ``step()`` makes, made and yielded again after each transient failure (``what``
    logged, then a pause) until one is answered; None once ``deadline`` (epoch seconds) has passed.

    :raises RemoteTaskError: ``exceeded(failing_for, last)`` once reads have failed for ``budget`` seconds.
    :raises Exception: an error of the read that is not transient, as raised.
    """
    failing_since: float | None = None
    while True:
        if deadline is not None and time.time() >= deadline:
            return None
        read_at = time.monotonic()
        try:
            return (yield step())
        except Exception as error:
            if not is_transient(error):
                raise
            failing_since = failing_since or read_at
            failing_for = time.monotonic() - failing_since
            if failing_for >= budget:
                raise exceeded(failing_for, error) from error
            logger.warning("%s (%s); still waiting.", what, error)
            yield Sleep(min(poll_interval, 30.0, budget - failing_for))


def log_line(memory: WaitMemory, logger: Any, line: str) -> None:
    """Log a progress line unless it is the one logged last (at this poll or an earlier one)."""
    if line != memory.line:
        logger.info("%s", line)
        memory.line = line


def name_unknown_words(memory: WaitMemory, logger: Any, where: str, words: dict[str, int]) -> None:
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
