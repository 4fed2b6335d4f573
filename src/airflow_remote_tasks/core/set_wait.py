"""Waiting for a set of runs (those a selector selects), written once as a procedure and driven by the worker
or the triggerer."""

from __future__ import annotations

import json
import logging
from typing import Any, Literal

from pydantic import BaseModel

from airflow_remote_tasks.core.errors import NotFoundError, PermanentError, RemoteRunError
from airflow_remote_tasks.core.models import ListedRun
from airflow_remote_tasks.core.phases import FAILURE_PHASES, Phase
from airflow_remote_tasks.core.platform import Platform
from airflow_remote_tasks.core.steps import ListRuns, Procedure, Sleep
from airflow_remote_tasks.core.waiting import (
    WaitBudgetError,
    WaitMemory,
    log_line,
    name_unknown_words,
    tolerated_read,
)

log = logging.getLogger(__name__)
# Run ids handed to XCom at most: counts cover the rest.
MAX_LISTED_IDS = 1000


class ListingBudgetError(WaitBudgetError):
    """A set wait could not list its runs for longer than its transient-error budget."""

    def __init__(self, key: str, failing_for: float, budget: float, last: BaseException) -> None:
        super().__init__(self.failing(key), failing_for, budget, last, "A retry waits again.")

    @staticmethod
    def failing(key: str) -> str:
        """What fails, in the words of the warnings while the budget lasts and of this error."""
        return f"Could not list the runs of selector {key}"


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


def set_line(key: str, counts: dict[str, int], targets: frozenset[Phase]) -> str:
    """The progress line of a wait on a set of runs, in the worker and the triggerer alike."""
    return f"Runs of {key}: {describe_counts(counts, targets) if counts else 'no runs selected yet'}"


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
    Runs that leave the set between polls are logged with their count; ``memory`` as in
    :func:`~airflow_remote_tasks.core.run_wait.wait_for_run`.

    :raises RemoteRunError: a selected run failed (unless ``fail_on_failure=False``, or failing is a target).
    :raises SelectorNotFoundError: the platform does not know what the selector names.
    :raises ListingBudgetError: listings failed transiently for ``transient_error_budget`` seconds.
    """
    key = json.dumps(selector, sort_keys=True)
    memory = memory if memory is not None else WaitMemory()
    while True:
        try:
            runs: list[ListedRun] | None = yield from tolerated_read(
                lambda: ListRuns(key, platform.list_runs(selector)),
                what=ListingBudgetError.failing(key),
                exceeded=lambda failing_for, last: ListingBudgetError(
                    key, failing_for, transient_error_budget, last
                ),
                budget=transient_error_budget,
                poll_interval=poll_interval,
                deadline=deadline,
                logger=logger,
            )
        except NotFoundError as error:
            raise SelectorNotFoundError(key, platform.name, error) from error
        if runs is None:
            return SetOutcome(outcome="timeout", counts={}, total=0, run_ids=[])
        counts: dict[str, int] = {}
        unknown: dict[str, int] = {}
        for run in runs:
            counts[run.status.phase.value] = counts.get(run.status.phase.value, 0) + 1
            if run.status.phase is Phase.UNKNOWN:
                unknown[run.status.raw_phase] = unknown.get(run.status.raw_phase, 0) + 1
        _note_departures(memory, logger, key, [r.run_id for r in runs])
        name_unknown_words(memory, logger, f"Runs of {key}", unknown)
        log_line(memory, logger, set_line(key, counts, targets))
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
