"""The task's execution_timeout holds on the remote run, in real dag.test() runs against the Flyte emulator: the
run is aborted when it passes, once, and the task fails naming it. dag.test() runs Airflow's task runner, which
sets its own alarm around execute(); a deferred wait runs its trigger in line, where only the trigger's deadline
can end it. The DAGs are the cluster tests' (tests/cluster_dags/execution_timeout.py)."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowTaskTimeout, TaskDeferred

from airflow_helpers import DagResult
from support import CLUSTER_DAGS, start_run, text_of

pytestmark = [pytest.mark.airflow, pytest.mark.usefixtures("airflow_db")]


@pytest.fixture
def dags(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The DAG file, as the DAGs folder dag.test() finds its DAG in (it runs only DAGs found in a bundle)."""
    import airflow.settings

    monkeypatch.setattr(airflow.settings, "DAGS_FOLDER", str(CLUSTER_DAGS))
    monkeypatch.syspath_prepend(str(CLUSTER_DAGS))
    import execution_timeout

    return execution_timeout


def dag_test(dags: ModuleType, name: str) -> DagResult:
    return DagResult(dags.DAGS[name].test())


def aborts(flyte) -> list[tuple[str, int, str]]:
    """Each run's phase, how many AbortRun requests it got and the reason it was aborted with."""
    state = flyte.emulator.state
    return [(r.phase(), state.abort_requests[r.name], r.abort_reason) for r in state.runs.values()]


EXPIRED = "did not finish within the task's execution_timeout of 2.0s; it was aborted"
REASON = "Aborted by Airflow: the task's execution_timeout of 2.0s passed."


def test_worker_wait_aborts_the_run_when_execution_timeout_passes_and_a_retry_starts_anew(dags, flyte, capfd):
    # retries=1: a timed-out try is retried as Airflow retries any; its run was aborted, so the retry starts
    # a new run, held to a new deadline.
    result = dag_test(dags, "worker")
    assert result.task_state("remote") == "failed"
    assert result.try_number("remote") == 2
    assert aborts(flyte) == [("ACTION_PHASE_ABORTED", 1, REASON)] * 2
    text = text_of(capfd)
    assert text.count(EXPIRED) == 2, text[-3000:]
    assert "the task instance was killed" not in text


def test_deferred_wait_aborts_the_run_when_execution_timeout_passes(dags, flyte, capfd):
    started = time.monotonic()
    result = dag_test(dags, "deferred")
    assert result.task_state("remote") == "failed"
    reason = "Aborted by Airflow: the task's execution_timeout of 4.0s passed."
    assert aborts(flyte) == [("ACTION_PHASE_ABORTED", 1, reason)]
    assert "did not finish within the task's execution_timeout of 4.0s; it was aborted" in text_of(capfd)
    assert time.monotonic() - started < 20  # the trigger ended the wait, not the end of the 120 s run


class Store(dict[str, Any]):
    """``task_state_store`` as the task runner hands it to a try: ``get`` and ``set``."""

    def set(self, key: str, value: Any) -> None:
        self[key] = value


def a_try(store: Store) -> dict[str, Any]:
    """The context of a retry (try 2) that begins now, as far as RemoteTaskOperator.execute reads it."""
    ti = SimpleNamespace(
        dag_id="d",
        run_id="r",
        task_id="remote",
        map_index=-1,
        try_number=2,
        max_tries=1,
        start_date=datetime.now(timezone.utc),
        xcom_push=lambda key, value: None,
    )
    return {"ti": ti, "task_state_store": store}


def sleeper(**operator: Any) -> Any:
    from airflow_remote_tasks import RemoteTaskOperator

    return RemoteTaskOperator(
        task_id="remote",
        conn_id="flyte_default",
        task="demo.sleep",
        poll_interval=0.2,
        execution_timeout=timedelta(seconds=5),
        retries=1,  # try 2 of max_tries=1 is a retry (a cleared task would abort the run instead)
        **operator,
    )


def test_a_retry_that_reattaches_keeps_the_deadline_of_the_try_that_started_the_run(flyte):
    from airflow_remote_tasks.operators.remote_task import STATE_KEY, RunRecord

    _, ref = start_run("demo.sleep", {"seconds": 20}, "reattached")
    began = time.time() - 4  # the try that started the run began 4 s ago: 1 s of its 5 s is left
    store = Store({STATE_KEY: RunRecord(ref=ref, started=began).model_dump(mode="json")})
    # Airflow's own timeout error, as its alarm raises: callbacks and retries take it as one.
    with pytest.raises(AirflowTaskTimeout, match=r"execution_timeout of 5\.0s; it was aborted"):
        sleeper(deferrable=False).execute(a_try(store))
    assert time.time() < began + 5 + 1.5  # ended at the first try's deadline, not 5 s after this try began
    assert aborts(flyte) == [
        ("ACTION_PHASE_ABORTED", 1, "Aborted by Airflow: the task's execution_timeout of 5.0s passed.")
    ]

    # Deferred, the trigger is handed that same deadline; a record from before `started` was kept counts from
    # this try's start.
    _, ref = start_run("demo.sleep", {"seconds": 20}, "deferred")
    for record, deadline in (
        (RunRecord(ref=ref, started=began), began + 5),
        (RunRecord.model_validate({"generation": 0, "ref": ref.to_json(), "deadline": None}), None),
    ):
        context = a_try(Store({STATE_KEY: record.model_dump(mode="json")}))
        with pytest.raises(TaskDeferred) as deferred:
            sleeper(deferrable=True).execute(context)
        expected = deadline or context["ti"].start_date.timestamp() + 5
        assert deferred.value.trigger.deadline == pytest.approx(expected, abs=0.01)


def test_a_retry_after_a_submit_that_started_no_run_counts_from_its_own_start(flyte):
    """The earlier try stored its record, then its submit failed: this try starts the run, and the run's
    execution_timeout counts from this try, not from the earlier one (long past)."""
    from airflow_remote_tasks.operators.remote_task import STATE_KEY, RunRecord

    store = Store({STATE_KEY: RunRecord(started=time.time() - 600).model_dump(mode="json")})
    assert sleeper(deferrable=False, inputs={"seconds": 1}).execute(a_try(store)) == 1.0
    assert aborts(flyte) == [("ACTION_PHASE_SUCCEEDED", 0, "")]
