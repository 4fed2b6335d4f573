"""RemoteTaskOperator in real dag.test() runs against the Flyte emulator."""

from __future__ import annotations

import pytest

from airflow_helpers import run_dag
from airflow_remote_tasks.core.models import RunOrigin, RunRef
from airflow_remote_tasks.platforms.flyte.hook import FlyteHook

pytestmark = [pytest.mark.airflow, pytest.mark.usefixtures("airflow_db")]


@pytest.mark.parametrize("mode", ["deferred", "worker"])
def test_outputs_reach_the_downstream_task(flyte, mode):
    result = run_dag(f"t_hello_{mode}")
    assert result.state == "success"
    assert result.xcom("collect") == "Hello, Grace! Hello, Grace!"
    [run] = flyte.runs
    assert run["phase"] == "ACTION_PHASE_SUCCEEDED"
    assert result.xcom("remote", "run_id") == run["name"]
    assert result.xcom("remote", "run_url") == (
        f"{flyte.url}/v2/domain/development/project/flytesnacks/runs/{run['name']}"
    )
    # the extra link is what Airflow stored for the UI
    assert result.xcom("remote", "_link_RemoteRunLink") == result.xcom("remote", "run_url")


def test_example_dag_end_to_end(flyte):
    result = run_dag("example_flyte", conf={"name": "Ada"})
    assert result.state == "success", {k: str(v.state) for k, v in result.tis.items()}
    assert result.xcom("report") == "greeting='Hello, Ada! Hello, Ada! Hello, Ada!' mean=2.5 count=3"
    assert len(flyte.runs) == 2


@pytest.mark.parametrize("mode", ["deferred", "worker"])
def test_failed_run_fails_the_task_with_the_remote_error(flyte, mode, capfd):
    result = run_dag(f"t_fail_{mode}")
    assert result.task_state("remote") == "failed"
    assert result.task_state("collect") == "upstream_failed"
    out = capfd.readouterr()
    text = out.out + out.err
    assert "ended failed (ACTION_PHASE_FAILED) [KIND_USER]: RuntimeError: disk full" in text
    # the tail of the remote log is copied into the task log
    assert "log lines of run" in text and "Traceback (most recent call last):" in text


@pytest.mark.parametrize("mode", ["deferred", "worker"])
def test_own_timeout_aborts_the_run(flyte, mode, capfd):
    result = run_dag(f"t_timeout_{mode}")
    assert result.task_state("remote") == "failed"
    [run] = flyte.runs
    assert run["phase"] == "ACTION_PHASE_ABORTED"
    out = capfd.readouterr()
    assert "did not finish within the operator's timeout of 1.0s; it was aborted" in out.out + out.err


@pytest.mark.parametrize("mode", ["deferred", "worker"])
def test_retry_reattaches_without_a_second_run(flyte, mode):
    # Try 1 submits, then every status read fails: with no error budget the try fails. (Reads, so no stream
    # of run updates, which would leave the deferred wait no read to fail.)
    flyte.emulator.watches.faults.refuse = True
    flyte.emulator.app.faults.update({"fail_method": "GetRunDetails", "fail_method_next": 5})
    result = run_dag(f"t_retry_{mode}")
    assert result.state == "success"
    assert result.try_number("remote") == 2
    assert result.xcom("collect") == "Hello, retry!"
    assert len(flyte.runs) == 1


def test_version_pin_and_latest(flyte):
    assert run_dag("t_version_v1").xcom("collect") == "Hello, old!"
    assert run_dag("t_templated").xcom("collect") == "Hello, Jinja! Hello, Jinja!"
    assert [r["version"] for r in flyte.runs] == ["v1", "v2"]


def test_multiple_outputs_become_separate_xcoms(flyte):
    result = run_dag("t_stats")
    assert result.xcom("remote", "mean") == 3.0
    assert result.xcom("remote", "maximum") == 6.0
    assert result.xcom("remote", "count") == 3


def test_struct_and_optional_inputs_round_trip(flyte):
    value = run_dag("t_struct").xcom("collect")
    assert value == {
        "config": {"lr": 0.1, "layers": [64, 32]},
        "keys": ["layers", "lr"],
        "tags": ["a"],
        "scaled": {},
    }


@pytest.mark.parametrize(
    ("dag_id", "message"),
    [
        ("t_bad_inputs", "- unknown input 'count'\n- name: expected str, got int 42"),
        ("t_unjsonable", "config: expected dict of JSON-like values"),
        ("t_unknown_task", "No Flyte task named 'demo.nope' in project 'flytesnacks', domain 'development'"),
        ("t_unknown_version", "Flyte task 'demo.say_hello' version 'v9' does not exist"),
    ],
)
def test_bad_input_fails_clearly_and_submits_nothing(flyte, capfd, dag_id, message):
    result = run_dag(dag_id)
    assert result.task_state("remote") == "failed"
    out = capfd.readouterr()
    assert message in out.out + out.err
    assert flyte.runs == []


def test_bad_inputs_message_lists_the_interface(flyte, capfd):
    run_dag("t_bad_inputs")
    out = capfd.readouterr()
    assert "Expected inputs:\n  name: str\n  n: int (default 1)" in out.out + out.err


def test_oversized_outputs_fail_instead_of_filling_xcom(flyte, capfd):
    result = run_dag("t_big_output")
    assert result.task_state("remote") == "failed"
    assert result.xcom("remote") is None
    out = capfd.readouterr()
    assert "over max_output_bytes=262,144; they were not written to XCom" in out.out + out.err


def test_unknown_and_wrong_type_connections(flyte, capfd, monkeypatch):
    result = run_dag("t_other_conn")
    assert result.task_state("remote") == "failed"
    assert "Connection 'other' is not defined" in "".join(capfd.readouterr())
    monkeypatch.setenv("AIRFLOW_CONN_OTHER", '{"conn_type": "http", "host": "example.invalid"}')
    result = run_dag("t_other_conn")
    assert result.task_state("remote") == "failed"
    assert "has type 'http', which this provider does not handle" in "".join(capfd.readouterr())
    assert flyte.runs == []


def test_unreachable_endpoint(flyte, capfd):
    flyte.connect(host="http://127.0.0.1:9")  # nothing listens on the discard port
    result = run_dag("t_hello_worker")
    assert result.task_state("remote") == "failed"
    assert "Could not reach http://127.0.0.1:9 in 5 tries (ConnectError" in "".join(capfd.readouterr())


def test_hostile_ids_give_a_valid_run_name(flyte):
    result = run_dag("t-Hostile.IDS--x")
    assert result.state == "success"
    [run] = flyte.runs
    assert run["name"].startswith("af-") and len(run["name"]) <= 30


@pytest.mark.parametrize(
    ("try_number", "max_tries", "retries", "cleared"),
    [
        (1, 2, 2, False),  # the first try
        (2, 2, 2, False),  # Airflow's retry after a failure
        (3, 2, 2, False),
        (2, 3, 2, True),  # try 1 cleared: max_tries = 1 + retries
        (2, 1, 0, True),  # the same without retries
        (3, 3, 2, False),  # a retry after the try that followed a clear
        (4, 5, 2, True),  # try 3 cleared
    ],
)
def test_a_try_that_follows_a_clear_is_told_from_a_retry(try_number, max_tries, retries, cleared):
    from types import SimpleNamespace

    from airflow_remote_tasks.operators.remote_task import follows_a_clear

    ti = SimpleNamespace(try_number=try_number, max_tries=max_tries)
    assert follows_a_clear(ti, retries) is cleared


def test_a_cleared_task_aborts_the_earlier_tries_run_and_starts_anew(flyte):
    """Airflow reruns a cleared deferred task before its triggerer cancels the old trigger: the new try
    aborts the earlier try's run itself, where a retry would reattach to it."""
    from airflow_remote_tasks import RemoteTaskOperator
    from airflow_remote_tasks.operators.remote_task import RunRecord

    ref = start_run("demo.sleep", {"seconds": 30}, "cleared")
    operator = RemoteTaskOperator(task_id="remote", conn_id="flyte_default", task="demo.sleep")
    retried = RunRecord(generation=0, ref=ref)
    assert operator._reattach(retried, cleared=False) == ref
    assert flyte.runs[0]["phase"] in ("ACTION_PHASE_QUEUED", "ACTION_PHASE_RUNNING")
    cleared = RunRecord(generation=0, ref=ref)
    assert operator._reattach(cleared, cleared=True) is None
    assert flyte.runs[0]["phase"] == "ACTION_PHASE_ABORTED"
    assert (cleared.generation, cleared.ref) == (1, None)  # the next submit is a new run


def start_run(task: str, inputs: dict, key: str) -> RunRef:
    """A Flyte run started outside any DAG, as a task's earlier try would have."""
    hook = FlyteHook("flyte_default")
    interface = hook.run(hook.platform.resolve_task(task, "latest"))
    wire = hook.platform.prepare_inputs(interface, inputs)
    origin = RunOrigin(dag_id="d", run_id="r", task_id=key)
    return hook.run(hook.platform.submit(interface, wire, origin=origin, labels={}, env={}))


def test_worker_on_kill_aborts_the_run(flyte):
    from airflow_remote_tasks import RemoteTaskOperator

    ref = start_run("demo.sleep", {"seconds": 30}, "killed-worker")
    operator = RemoteTaskOperator(task_id="remote", conn_id="flyte_default", task="demo.sleep")
    operator._ref = ref  # what execute() holds while it waits in the worker
    operator.on_kill()
    assert flyte.runs[0]["phase"] == "ACTION_PHASE_ABORTED"
