"""The waits on one run and on a set of runs share one read loop: transient failures are tolerated within the
budget, then end the wait with the one budget message; errors that are not transient end it at once."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_remote_tasks.core.errors import ApiError, NotFoundError
from airflow_remote_tasks.core.executors import drive
from airflow_remote_tasks.core.models import ListedRun, RunRef, RunStatus
from airflow_remote_tasks.core.operation import HttpRequest, HttpResponse, Operation
from airflow_remote_tasks.core.phases import Phase
from airflow_remote_tasks.core.replay import Replay, reply
from airflow_remote_tasks.core.run_wait import BudgetExceededError, wait_for_run
from airflow_remote_tasks.core.set_wait import ListingBudgetError, SelectorNotFoundError, wait_for_runs
from airflow_remote_tasks.core.steps import step_runner

API = "https://api.example.com"
REF = RunRef(platform="toy", run_id="r-1", url=f"{API}/ui/r-1")


def checked(response: HttpResponse) -> Any:
    if response.status == 404:
        raise NotFoundError("not found", status=404)
    if response.status >= 500:
        raise ApiError(f"HTTP {response.status}", status=response.status, retryable=True)
    return response.json()


class Toy:
    """A platform of one status call and one listing call, enough for the waits."""

    name = "toy"

    def status(self, ref: RunRef) -> Operation[RunStatus]:
        response: HttpResponse = yield HttpRequest("GET", f"{API}/runs/{ref.run_id}")
        word = checked(response)["state"]
        return RunStatus(phase=Phase(word), raw_phase=word)

    def list_runs(self, selector: dict[str, Any]) -> Operation[list[ListedRun]]:
        response: HttpResponse = yield HttpRequest("GET", f"{API}/runs?project={selector['project']}")
        items = checked(response)["items"]
        return [
            ListedRun(
                run_id=item["id"], status=RunStatus(phase=Phase(item["state"]), raw_phase=item["state"])
            )
            for item in items
        ]

    def progress(self, ref: RunRef, seen: int) -> Any:
        raise AssertionError("no progress is read: the runs report no steps")

    def poll_delay(self) -> float:
        return 0.0


def waited(procedure: Any, replay: Replay) -> Any:
    return drive(procedure, step_runner(replay.run, sleep=lambda seconds: None))


def test_a_run_wait_tolerates_transient_failures_and_ends_at_the_target() -> None:
    replay = Replay(
        [reply(status=503)] * 5 + [reply(json={"state": "running"}), reply(json={"state": "succeeded"})]
    )
    outcome = waited(wait_for_run(Toy(), REF, poll_interval=1.0), replay)
    assert outcome.outcome == "reached" and outcome.status.phase is Phase.SUCCEEDED
    assert len(replay.requests) == 7


def test_both_waits_end_with_the_one_budget_message() -> None:
    with pytest.raises(BudgetExceededError) as run_error:
        waited(
            wait_for_run(Toy(), REF, poll_interval=1.0, transient_error_budget=0),
            Replay([reply(status=503)] * 5),
        )
    with pytest.raises(ListingBudgetError) as set_error:
        waited(
            wait_for_runs(
                Toy(),
                {"project": "p"},
                poll_interval=1.0,
                targets=frozenset({Phase.SUCCEEDED}),
                transient_error_budget=0,
            ),
            Replay([reply(status=503)] * 5),
        )
    run_text, set_text = str(run_error.value), str(set_error.value)
    assert run_text.startswith(
        "Could not read the state of run r-1 for 0s, which used up transient_error_budget=0s"
    )
    assert run_text.endswith(
        f"The run was not stopped and may still be going: {API}/ui/r-1. A retry of this task waits on the same "
        "run again."
    )
    assert set_text.startswith(
        'Could not list the runs of selector {"project": "p"} for 0s, which used up transient_error_budget=0s'
    )
    assert set_text.endswith("A retry waits again.")
    assert "(last error: " in run_text and "(last error: " in set_text


def test_an_error_that_is_not_transient_ends_a_wait_at_once() -> None:
    replay = Replay([reply(status=404)])
    with pytest.raises(NotFoundError):
        waited(wait_for_run(Toy(), REF, poll_interval=1.0), replay)
    replay = Replay([reply(status=404)])
    with pytest.raises(SelectorNotFoundError, match="something it names does not exist"):
        waited(
            wait_for_runs(
                Toy(), {"project": "nope"}, poll_interval=1.0, targets=frozenset({Phase.SUCCEEDED})
            ),
            replay,
        )
    assert len(replay.requests) == 1


def test_a_set_wait_polls_until_enough_runs_reached_the_targets() -> None:
    replay = Replay(
        [
            reply(status=502),
            reply(json={"items": [{"id": "a", "state": "running"}]}),
            reply(json={"items": [{"id": "a", "state": "succeeded"}, {"id": "b", "state": "succeeded"}]}),
        ]
    )
    outcome = waited(
        wait_for_runs(
            Toy(), {"project": "p"}, poll_interval=1.0, targets=frozenset({Phase.SUCCEEDED}), min_count=2
        ),
        replay,
    )
    assert (outcome.outcome, outcome.total, outcome.run_ids) == ("reached", 2, ["a", "b"])
