"""A sensor's waits: the transient-error budget counts only reads failing in a row, within one try; what a
deferral stores (the trigger's kwargs and event) holds no secret, no key an older triggerer refuses, and no
more outcome than the documented cap."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from airflow_helpers import DAGS, DagResult
from test_waiting_ux import AVALA_LISTING, in_steps, text_of

sys.path.insert(0, str(DAGS))
from waiting_test_dags import ALL_DAGS

pytestmark = [pytest.mark.airflow, pytest.mark.usefixtures("airflow_db")]


def run(dag_id: str, **conf: Any) -> DagResult:
    return DagResult(ALL_DAGS[dag_id].test(run_conf=conf or None))


# -- 1. the transient-error budget ------------------------------------------------------------------------

FAIL_ONE_POKE = {"fail_method": "GET /api/v1/tasks/", "fail_method_next": 2}  # a listing's two attempts


@pytest.mark.parametrize("mode", ["poke", "reschedule"])
def test_an_answered_read_ends_a_streak_of_failed_reads(avala, capfd, mode):
    """One poke in three fails, for about three budgets: never 1.5 s of failures in a row."""
    tasks = avala.emulator.state.tasks
    tasks["task-002-0001"]["status"] = "active"  # keeps the set waiting
    faults = avala.emulator.app.faults

    def fail_one_poke() -> None:
        faults.update(FAIL_ONE_POKE)

    def finish() -> None:
        tasks["task-002-0001"]["status"] = "completed"

    # Each cycle: a poke that fails (two calls), then two pokes that are answered (a call each).
    cycles = [(2 + 4 * n, fail_one_poke) for n in range(8)]
    in_steps(avala.emulator.app, AVALA_LISTING, *cycles, (2 + 4 * 8, finish))
    result = run(f"w_set_flaky_{mode}")
    text = text_of(capfd)
    assert result.task_state("runs") == "success", text[-3000:]
    assert "used up transient_error_budget" not in text
    assert text.count("Could not list the runs of selector") >= 8  # each failure was tolerated, and said so
    assert avala.emulator.app.calls["/api/v1/tasks/"] >= 2 + 4 * 8


@pytest.mark.parametrize("mode", ["poke", "reschedule"])
def test_a_retry_does_not_inherit_the_failed_reads_of_the_try_before(avala, capfd, mode):
    """Try 1 fails every read until its budget is used up; the retry's first poke fails too (its
    on_retry_callback asks for that), and the retry then waits on with a whole budget."""
    tasks = avala.emulator.state.tasks
    tasks["task-002-0001"]["status"] = "active"
    faults = avala.emulator.app.faults
    faults.update({"fail_method": "GET /api/v1/tasks/", "fail_method_next": 10_000})

    def finish() -> None:
        tasks["task-002-0001"]["status"] = "completed"

    # Once the fault of the retry's first poke is spent, three more listings answered, then the set is done.
    watcher = _after_faults_spent(avala, 3, finish)
    result = run(f"w_set_retried_{mode}", emulator=avala.server.url)
    watcher.join(timeout=1)
    text = text_of(capfd)
    assert result.try_number("runs") == 2, text[-3000:]
    assert result.task_state("runs") == "success", text[-3000:]
    assert text.count("used up transient_error_budget=1s") == 1  # try 1's, not the retry's


def _after_faults_spent(avala: Any, answered: int, action: Any) -> Any:
    """Run ``action`` once the retry's failing listings are spent and ``answered`` more were answered."""
    import threading
    import time

    faults = avala.emulator.app.faults

    def watch() -> None:
        deadline = time.time() + 60
        while not (0 < faults.fail_method_next <= 2) and time.time() < deadline:
            time.sleep(0.01)  # try 1 still failing (10,000 left), or the retry's two not set yet
        while faults.fail_method_next and time.time() < deadline:
            time.sleep(0.01)
        start = avala.emulator.app.calls["/api/v1/tasks/"]
        while avala.emulator.app.calls["/api/v1/tasks/"] - start < answered and time.time() < deadline:
            time.sleep(0.01)
        action()

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread
