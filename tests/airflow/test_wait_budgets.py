"""A sensor's waits: the transient-error budget counts only reads failing in a row, within one try; what a
deferral stores (the trigger's kwargs and event) holds no secret, no key an older triggerer refuses, and no
more outcome than the documented cap."""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from test_waiting_ux import (
    AVALA_LISTING,
    deferrals,  # noqa: F401 (a fixture)
    in_steps,
    started_run,
    text_of,
)

from airflow_helpers import DAGS, DagResult, run_dag
from airflow_remote_tasks import RemoteRunSensor
from airflow_remote_tasks.core.errors import ConfigurationError
from airflow_remote_tasks.core.run_outcome import MAX_OUTCOME_OUTPUT_BYTES, OUTCOME_OUTPUT_BYTES_CAP
from airflow_remote_tasks.core.transport import close_shared_clients
from airflow_remote_tasks.platforms.flyte.hook import FlyteHook
from airflow_remote_tasks.triggers.remote_run import RemoteRunTrigger

sys.path.insert(0, str(DAGS))
from waiting_test_dags import ALL_DAGS

pytestmark = [pytest.mark.airflow, pytest.mark.usefixtures("airflow_db")]


def run(dag_id: str, **conf: Any) -> DagResult:
    return DagResult(ALL_DAGS[dag_id].test(run_conf=conf or None))


# -- 1. the transient-error budget ------------------------------------------------------------------------

FAIL_ONE_POKE = {"fail_method": "GET /api/v1/tasks/", "fail_method_next": 2}  # a listing's two attempts


@pytest.mark.parametrize("mode", ["poke", "reschedule"])
def test_an_answered_read_ends_a_streak_of_failed_reads(avala, capfd, mode):
    """One poke in three fails, four times, over more than two budgets: never 1.5 s of failures in a row."""
    tasks = avala.emulator.state.tasks
    tasks["task-002-0001"]["status"] = "active"  # keeps the set waiting
    faults = avala.emulator.app.faults

    def fail_one_poke() -> None:
        faults.update(FAIL_ONE_POKE)

    def finish() -> None:
        tasks["task-002-0001"]["status"] = "completed"

    # Each cycle: a poke that fails (two calls), then two pokes that are answered (a call each).
    cycles = [(2 + 4 * n, fail_one_poke) for n in range(4)]
    in_steps(avala.emulator.app, AVALA_LISTING, *cycles, (2 + 4 * 4, finish))
    result = run(f"w_set_flaky_{mode}")
    text = text_of(capfd)
    assert result.task_state("runs") == "success", text[-3000:]
    assert "used up transient_error_budget" not in text
    assert text.count("Could not list the runs of selector") >= 4  # each failure was tolerated, and said so
    assert avala.emulator.app.calls["/api/v1/tasks/"] >= 2 + 4 * 4


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
    retry = text.split("used up transient_error_budget=1s", 1)[1]
    assert "Could not list the runs of selector" in retry and "still waiting" in retry  # its failed poke


def _after_faults_spent(avala: Any, answered: int, action: Callable[[], None]) -> threading.Thread:
    """Run ``action`` once the retry's failing listings are spent and ``answered`` more were answered."""
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


# -- 3. what a deferral stores, for a triggerer of an older version ---------------------------------------


def test_only_a_sensors_deferral_names_outcome_output_bytes(flyte, deferrals):  # noqa: F811
    """A triggerer still on the version before ``outcome_output_bytes`` rebuilds every trigger from its
    kwargs: the operator's deferrals (which read no outcome) must not carry the key."""
    assert run_dag("t_hello_deferred").state == "success"
    run_id = started_run("demo.say_hello", {"name": "Ada", "n": 1}, "sensed")
    assert run("w_flyte_deferred", run=run_id).state == "success"
    [(_, operators, _), (_, sensors, event)] = deferrals
    assert "outcome_output_bytes" not in operators
    assert sensors["outcome_output_bytes"] == MAX_OUTCOME_OUTPUT_BYTES
    assert event is not None and event["result"]["outputs"] == "Hello, Ada!"


# -- 4. the cap on what a sensor hands over ---------------------------------------------------------------


def test_max_output_bytes_is_capped_when_the_dag_is_parsed():
    assert (
        RemoteRunSensor(
            task_id="s", conn_id="c", run_id="r", max_output_bytes=OUTCOME_OUTPUT_BYTES_CAP
        ).max_output_bytes
        == 1024 * 1024
    )
    with pytest.raises(ConfigurationError) as raised:
        RemoteRunSensor(task_id="s", conn_id="c", run_id="r", max_output_bytes=OUTCOME_OUTPUT_BYTES_CAP + 1)
    assert str(raised.value).startswith(
        "max_output_bytes must be at most 1,048,576 bytes (1 MiB), not 1,048,577: the outcome is kept in "
        "Airflow's database"
    )


def test_a_trigger_deferred_before_the_cap_reads_no_more_than_it(flyte):
    """A deferral written by the version before the cap may ask for any size: the trigger holds to 1 MiB."""
    run_id = started_run("demo.say_hello", {"name": "A" * 600_000, "n": 2}, "huge")  # 1.2 MB of outputs
    ref = FlyteHook("flyte_default").find_run(run_id)
    trigger = RemoteRunTrigger(
        conn_id="flyte_default", ref=ref.to_json(), poll_interval=0.1, outcome_output_bytes=50_000_000
    )
    assert trigger.serialize()[1]["outcome_output_bytes"] == OUTCOME_OUTPUT_BYTES_CAP

    async def events() -> list[dict[str, Any]]:
        try:
            return [event.payload async for event in trigger.run()]
        finally:
            await close_shared_clients()

    [event] = asyncio.run(events())
    assert event["outcome"] == "reached" and event["result"]["outputs"] is None
    assert "over max_output_bytes=1,048,576" in event["result"]["outputs_note"]
    assert len(json.dumps(event)) < 10_000
