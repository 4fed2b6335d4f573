"""RemoteTaskOperator, ResumeRunOperator and RemoteRunSensor on Julep, in real dag.test() runs."""

from __future__ import annotations

import time

import pytest

from airflow_helpers import run_dag
from support import JULEP_KEY, text_of

pytestmark = [pytest.mark.airflow, pytest.mark.usefixtures("airflow_db")]


@pytest.mark.parametrize("mode", ["deferred", "worker"])
def test_output_reaches_the_downstream_task(julep, mode, capfd):
    result = run_dag(f"j_hello_{mode}")
    assert result.state == "success"
    assert result.xcom("collect") == {"text": "Hello, Ada! Hello, Ada!"}
    [execution] = julep.executions
    assert execution["status"] == "succeeded"
    assert result.xcom("remote", "run_id") == execution["id"]
    # the execution says which task instance started it
    assert execution["metadata"]["airflow_dag_id"] == f"j_hello_{mode}"
    assert execution["metadata"]["airflow_task_id"] == "remote"
    assert execution["metadata"]["created-by"] == "airflow"
    # step progress reached the task log
    text = text_of(capfd)
    assert 'step 0 step: {"line":"Hello, Ada!"}' in text
    assert 'step 2 finish: {"text":"Hello, Ada! Hello, Ada!"}' in text


def test_same_definition_twice_creates_one_task_and_writes_it_once(julep):
    run_dag("j_hello_worker")
    [task] = julep.emulator.state.tasks.values()
    written = task["updated_at"]
    run_dag("j_retry_worker")  # same GREET definition, another DAG: no new task, no rewrite
    run_dag("j_by_name")  # looks the task up by name on the agent
    [again] = julep.emulator.state.tasks.values()
    assert again["updated_at"] == written
    assert len(julep.executions) == 3


def test_changed_definition_updates_the_task_in_place(julep):
    from julep_test_dags import GREET

    run_dag("j_hello_worker")
    [task_id] = julep.emulator.state.tasks
    original = GREET["main"][1]
    GREET["main"][1] = {"log": "$ 'changed'"}
    try:
        result = run_dag("j_hello_worker")
    finally:
        GREET["main"][1] = original
    assert result.state == "success"
    assert list(julep.emulator.state.tasks) == [task_id]
    assert julep.emulator.state.tasks[task_id]["main"][1]["log"] == "$ 'changed'"


def test_task_by_id(julep):
    run_dag("j_hello_worker")
    [task_id] = julep.emulator.state.tasks
    result = run_dag("j_by_id", conf={"task_id": task_id})
    assert result.xcom("collect") == {"text": "Hello, by id!"}


@pytest.mark.parametrize("mode", ["deferred", "worker"])
def test_failed_execution_fails_the_task_with_its_error(julep, mode, capfd):
    result = run_dag(f"j_fail_{mode}")
    assert result.task_state("remote") == "failed"
    text = text_of(capfd)
    assert "ended failed (failed): disk full" in text
    # the last transitions stand in for logs
    assert 'step 1 error: {"error":"disk full"}' in text


@pytest.mark.parametrize("mode", ["deferred", "worker"])
def test_own_timeout_cancels_the_execution(julep, mode, capfd):
    result = run_dag(f"j_timeout_{mode}")
    assert result.task_state("remote") == "failed"
    assert "did not finish within the operator's timeout of 1.0s; it was aborted" in text_of(capfd)
    assert len(julep.executions) == 1
    # the server records the cancellation a moment later
    for _ in range(50):
        if julep.executions[0]["status"] == "cancelled":
            break
        time.sleep(0.05)
    assert julep.executions[0]["status"] == "cancelled"
    assert julep.executions[0]["transitions"][-1] == "cancelled"


@pytest.mark.parametrize("mode", ["deferred", "worker"])
def test_retry_reattaches_without_a_second_execution(julep, mode):
    # Try 1 creates the execution; then its status reads fail, and with no error budget the try fails.
    julep.emulator.app.faults.update({"fail_method": "GET /api/executions/", "fail_method_next": 5})
    result = run_dag(f"j_retry_{mode}")
    assert result.state == "success"
    assert result.try_number("remote") == 2
    assert result.xcom("collect") == {"text": "Hello, again!"}
    assert len(julep.executions) == 1


def test_failed_create_is_looked_up_before_it_is_sent_again(julep):
    # The create answers 503 once: the operator looks the execution up, finds none, and creates it once.
    julep.emulator.app.faults.update({"fail_method": "POST /api/tasks/", "fail_method_next": 1})
    result = run_dag("j_hello_worker")
    assert result.state == "success"
    assert len(julep.executions) == 1
    assert julep.emulator.app.faults.fail_method_next == 0  # the 503 was served
    # (the refused POST never reached the API, so it is not among the recorded exchanges)
    calls = [e for e in julep.emulator.exchanges if e["path"].endswith("/executions")]
    assert [e["method"] for e in calls] == ["GET", "GET", "POST"]


@pytest.mark.parametrize("mode", ["deferred", "worker"])
def test_progress_is_bounded_in_the_log(julep, mode, capfd):
    result = run_dag(f"j_busy_{mode}")
    assert result.state == "success"
    text = text_of(capfd)
    assert "more steps" in text
    logged = text.count(" step: {")
    assert 0 < logged < 60


@pytest.mark.parametrize("mode", ["deferred", "worker"])
def test_awaiting_input_can_fail_the_task(julep, mode, capfd):
    result = run_dag(f"j_paused_fail_{mode}")
    assert result.task_state("remote") == "failed"
    text = text_of(capfd)
    assert "is paused (awaiting_input): waiting for input:" in text and "on_paused='fail'" in text
    # it is left waiting, for someone to resume or cancel
    assert julep.executions[0]["status"] == "awaiting_input"


def test_example_dag_waits_for_input_then_resumes(julep):
    result = run_dag("example_julep", conf={"text": "one two three"})
    assert result.state == "success", {k: str(v.state) for k, v in result.tis.items()}
    pending = result.xcom("review")
    assert pending["phase"] == "paused" and pending["raw_phase"] == "awaiting_input"
    assert pending["waiting_for"]["question"] == "Publish this summary?"
    assert result.xcom("report") == (
        "'[emulated reply] Summarize for engineers: one two three' (3 words); approved=True by airflow"
    )
    _, review = julep.executions
    assert review["status"] == "succeeded"
    assert review["transitions"][-4:] == ["wait", "resume", "step", "finish"]


def test_resume_is_not_sent_twice(julep, capfd):
    result = run_dag("example_julep")
    run_id = result.xcom("review", "run_id")
    again = run_dag("j_resume", conf={"run": run_id})
    assert again.state == "success"
    assert "not waiting for input: not resuming it" in text_of(capfd)
    # the first resume's answer stands
    assert again.xcom("resume") == result.xcom("approve")


def test_sensor_waits_for_an_execution_started_elsewhere(julep):
    started = run_dag("j_hello_worker").xcom("remote", "run_id")
    result = run_dag("j_sensor", conf={"run": started})
    assert result.state == "success"
    assert len(julep.executions) == 1


@pytest.mark.parametrize(
    ("dag_id", "message"),
    [
        ("j_bad_inputs", "- name: 7 is not of type 'string'"),
        ("j_bad_inputs", "- times: 0 is less than the minimum of 1"),
        ("j_bad_inputs", "- unknown input 'nmae' (the schema lists name, times)"),
        ("j_bad_inputs", "Expected inputs:\n  name: string\n  times: integer (default 1)"),
        ("j_by_name_unknown", "has no Julep task named 'nope'"),
        ("j_env", "Julep cannot take environment variables for a run; pass the values as inputs instead"),
        ("j_version", "Julep tasks have no versions"),
    ],
)
def test_bad_input_fails_clearly_and_starts_nothing(julep, capfd, dag_id, message):
    result = run_dag(dag_id)
    assert result.task_state("remote") == "failed"
    assert message in text_of(capfd)
    assert julep.executions == []


def test_unknown_task_id(julep, capfd):
    result = run_dag("j_by_id", conf={"task_id": "0190f1c2-0000-7000-8000-0000000000a1"})
    assert result.task_state("remote") == "failed"
    assert "No Julep task with id '0190f1c2-0000-7000-8000-0000000000a1'" in text_of(capfd)


def test_bad_key_is_refused_once_without_retries(julep, capfd):
    julep.connect(password="not-the-key")
    result = run_dag("j_hello_worker")
    assert result.task_state("remote") == "failed"
    text = text_of(capfd)
    assert "Could not validate API KEY. The API key was refused" in text
    assert len(julep.emulator.exchanges) == 1
    assert "not-the-key" not in text


def test_wrong_base_url_names_the_fix(julep, capfd):
    julep.connect(host=julep.server.url)  # the API lives under /api
    result = run_dag("j_hello_worker")
    assert result.task_state("remote") == "failed"
    assert "which is not a Julep API answer. Check the connection's base URL" in text_of(capfd)


def test_key_never_reaches_logs_xcom_or_trigger_rows(julep, capfd):
    result = run_dag("j_hello_deferred")
    assert result.state == "success"
    assert JULEP_KEY not in text_of(capfd)
    assert all(JULEP_KEY not in repr(value) for value in result.all_xcom_values())
    from airflow.models.trigger import Trigger
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = [repr(row.kwargs) for row in session.query(Trigger).all()]
    assert any("julep_default" in row for row in rows)  # the deferral's row is there to look at
    assert all(JULEP_KEY not in row for row in rows)
