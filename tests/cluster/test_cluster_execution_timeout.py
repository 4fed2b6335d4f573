"""A deferred task's execution_timeout in a real Airflow (the ``airflow`` fixture in conftest): Airflow times out
neither the deferral nor the remote run, so the trigger holds the run's deadline, and the resumed task aborts
the run. DAGs in tests/cluster_dags/execution_timeout.py."""

from __future__ import annotations

import time

import pytest

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(600)]

DAG_ID = "c_execution_timeout_deferred"


def test_a_deferred_task_past_its_execution_timeout_aborts_its_run_and_fails(airflow, flyte_emulator):
    emulator, _ = flyte_emulator
    state = emulator.state
    before = set(state.abort_requests) | {run["name"] for run in state.summary()}
    started = time.monotonic()
    run_id = airflow.trigger(DAG_ID)  # a 120 s run; the task's execution_timeout is 4 s
    seen = set()

    def finished() -> bool:
        seen.add(airflow.task_state(DAG_ID, run_id, "remote"))
        return airflow.run_state(DAG_ID, run_id) in ("success", "failed")

    airflow.wait_until(finished, 90, f"{DAG_ID} to finish", every=0.3)
    took = time.monotonic() - started
    assert airflow.run_state(DAG_ID, run_id) == "failed"
    assert "deferred" in seen  # the wait was the triggerer's
    [run] = [run for run in state.runs.values() if run.name not in before]
    assert (run.phase(), state.abort_requests[run.name]) == ("ACTION_PHASE_ABORTED", 1)
    assert run.abort_reason == "Aborted by Airflow: the task's execution_timeout of 4.0s passed."
    assert (
        airflow.task_instance(DAG_ID, run_id, "remote")["try_number"] == 1
    )  # retries=0: failed, not retried
    folder = airflow.logs / f"dag_id={DAG_ID}" / f"run_id={run_id}" / "task_id=remote"
    logs = "".join(path.read_text(errors="replace") for path in folder.rglob("attempt=1.log"))
    assert (
        f"Run {run.name} did not finish within the task's execution_timeout of 4.0s; it was aborted" in logs
    )
    print(
        f"execution_timeout of 4 s: the deferred task failed and its run was aborted {took:.1f} s after the trigger"
    )
