"""How a task fails: errors that cannot fix themselves are not retried, a huge remote error is clipped, the
transient error budget is honoured and explained, and a failed submit says only what is known."""

from __future__ import annotations

import socket

import pytest

from airflow_helpers import run_dag
from support import text_of

pytestmark = [pytest.mark.airflow, pytest.mark.usefixtures("airflow_db")]

TRAVERSAL = "../users/me/projects/p"


@pytest.mark.parametrize(
    ("dag_id", "says"),
    [
        ("t_retries_bad_inputs", "do not match its interface; nothing was submitted"),
        ("t_retries_unknown_conn", "Connection 'nope' is not defined"),
        ("t_retries_unknown_task", "demo.nope"),
    ],
)
def test_errors_that_cannot_fix_themselves_are_not_retried(flyte, dag_id, says, capfd):
    result = run_dag(dag_id)
    assert result.task_state("remote") == "failed"
    assert result.try_number("remote") == 1, "retries=2, but asking again cannot help"
    text = text_of(capfd)
    assert says in text
    assert "XCom not found" not in text  # no noise from the run link of a run that never started
    assert flyte.runs == []


def test_a_huge_remote_error_is_clipped_in_the_log(flyte, capfd):
    result = run_dag("t_huge_error", conf={"message": "E" * 300_000})
    assert result.task_state("remote") == "failed"
    text = text_of(capfd)
    assert "bytes more)" in text
    assert "E" * 300_000 not in text
    assert max(len(line) for line in text.splitlines()) < 20_000


@pytest.mark.parametrize("mode", ["deferred", "worker"])
def test_transient_error_budget_is_honoured_and_explained(flyte, mode, capfd):
    import threading
    import time

    def break_reads_once_started() -> None:
        deadline = time.monotonic() + 30
        while not flyte.runs and time.monotonic() < deadline:
            time.sleep(0.05)
        flyte.emulator.app.faults.update({"fail_method": "GetRunDetails", "fail_method_next": 10_000})

    # Reads fail, so no stream of run updates, which would leave the deferred wait no read to fail.
    flyte.emulator.watches.faults.refuse = True
    threading.Thread(target=break_reads_once_started, daemon=True).start()
    result = run_dag(f"t_budget_{mode}")
    assert result.task_state("remote") == "failed"
    text = text_of(capfd)
    [run] = flyte.runs
    assert "used up transient_error_budget=2s" in text
    assert f"/runs/{run['name']}" in text.split("used up transient_error_budget=2s", 1)[1]
    assert "The run was not stopped" in text and "waits on the same run again" in text
    reported = [
        float(t.split("s, which used up")[0]) for t in text.split("for ")[1:] if "s, which used up" in t
    ]
    assert reported and max(reported) < 2 + 5, "the budget is honoured within about one poll"
    assert run["phase"] != "ACTION_PHASE_ABORTED"  # left running: a retry reattaches


def test_poke_mode_sensor_has_a_transient_error_budget(flyte, capfd):
    from test_secrets_and_sensor import started_run

    run_id = started_run("demo.sleep", {"seconds": 3.0}, "poked")
    flyte.emulator.app.faults.update({"fail_method": "GetRunDetails", "fail_method_next": 6})
    result = run_dag("t_sensor_tolerant", conf={"run": run_id})
    assert result.task_state("sensor_poke") == "success"  # six errors in a row did not fail it
    assert "still waiting" in text_of(capfd)
    flyte.emulator.app.faults.update({"fail_method": "GetRunDetails", "fail_method_next": 10_000})
    result = run_dag("t_sensor_budget", conf={"run": run_id})
    assert result.task_state("sensor_poke") == "failed"
    assert "used up transient_error_budget=2s" in text_of(capfd)


def test_a_submit_refused_after_retries_says_how_often_and_that_nothing_started(flyte, capfd):
    flyte.emulator.app.faults.update({"fail_method": "CreateRun", "fail_method_next": 100})
    result = run_dag("t_hello_worker")
    assert result.task_state("remote") == "failed"
    text = text_of(capfd)
    assert "Could not start a run of demo.say_hello: " in text
    assert "CreateRun failed after 5 tries: unavailable: injected fault" in text
    assert "The platform refused it, so no run was started." in text
    assert flyte.runs == []


def test_a_submit_whose_answer_was_lost_says_a_run_may_have_started(avala, capfd):
    faults = avala.emulator.app.faults
    # the job is created but its answer is lost; the lookup that would find it is then refused
    faults.update({"lose_answer": "POST /api/v1/projects/", "lose_answer_next": 1})
    faults.update({"fail_method": "GET /api/v1/auto-label-jobs/", "fail_method_next": 100})
    result = run_dag("av_autolabel_worker")
    assert result.task_state("remote") == "failed"
    text = text_of(capfd)
    assert "so a run may have started" in text
    assert "no run was started" not in text
    assert faults.lose_answer_next == 0


def test_a_submit_that_reached_nothing_says_no_run_was_started(avala, capfd):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()  # nothing listens there now: every connection is refused
    avala.connect(host=f"http://127.0.0.1:{port}/api/v1")
    result = run_dag("av_export")
    assert result.task_state("remote") == "failed"
    text = text_of(capfd)
    assert "Could not start a run of export" in text
    assert "no run was started" in text
    assert "may have started" not in text and "No answer came back" not in text


def test_the_sensor_refuses_a_path_as_run_id_before_any_request(avala, capfd):
    result = run_dag("av_sensor", conf={"run": TRAVERSAL})
    assert result.task_state("sensor_poke") == "failed"
    assert result.task_state("sensor_deferred") == "failed"
    assert "run_id='../users/me/projects/p' is not a valid Avala run id" in text_of(capfd)
    assert sum(avala.emulator.app.calls.values()) == 0
