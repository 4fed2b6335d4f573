"""Secrets stay in the connection; the sensor waits on runs started elsewhere."""

from __future__ import annotations

import base64

import pytest

from airflow_helpers import run_dag
from airflow_remote_tasks.core.models import RunOrigin
from airflow_remote_tasks.platforms.flyte.hook import FlyteHook

pytestmark = [pytest.mark.airflow, pytest.mark.usefixtures("airflow_db")]

SECRET = "s3cr3t-VALUE-42"


def test_secrets_never_reach_logs_xcom_or_trigger_rows(flyte_with_auth, capfd):
    flyte = flyte_with_auth
    key = base64.b64encode(f"{flyte.url}:airflow:{SECRET}:None".encode()).decode()
    flyte.connect(host="", password=key)
    result = run_dag("t_hello_deferred")
    assert result.state == "success"
    assert result.xcom("collect") == "Hello, Grace! Hello, Grace!"
    tokens = list(flyte.emulator.tokens)
    assert tokens, "the run must have used OAuth2 tokens"
    forbidden = [SECRET, key, *tokens]
    out = capfd.readouterr()
    logs = out.out + out.err
    xcoms = repr(result.all_xcom_values())
    from airflow.models.trigger import Trigger
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = repr([(t.classpath, t.kwargs) for t in session.query(Trigger).all()])
    assert "RemoteRunTrigger" in rows  # the deferral's row is there to look at
    for secret in forbidden:
        assert secret not in logs
        assert secret not in xcoms
        assert secret not in rows


def started_run(task: str, inputs: dict, key: str) -> str:
    hook = FlyteHook("flyte_default")
    platform = hook.platform
    interface = hook.run(platform.resolve_task(task, "latest"))
    wire = platform.prepare_inputs(interface, inputs)
    return hook.run(
        platform.submit(
            interface, wire, origin=RunOrigin(dag_id="d", run_id="r", task_id=key), labels={}, env={}
        )
    ).run_id


def test_sensor_waits_for_a_run_started_elsewhere(flyte):
    run_id = started_run("demo.sleep", {"seconds": 1.0}, "elsewhere")
    result = run_dag("t_sensor", conf={"run": run_id})
    assert result.task_state("sensor_deferred") == "success"
    assert result.task_state("sensor_poke") == "success"
    assert result.xcom("sensor_poke", "run_url").endswith(f"/runs/{run_id}")


def test_sensor_fails_on_a_failed_run_and_on_an_unknown_one(flyte, capfd):
    run_id = started_run("demo.fail", {}, "fails")
    result = run_dag("t_sensor", conf={"run": run_id})
    assert result.task_state("sensor_deferred") == "failed"
    assert result.task_state("sensor_poke") == "failed"
    assert "ended failed (ACTION_PHASE_FAILED): RuntimeError: the task failed on purpose" in "".join(
        capfd.readouterr()
    )
    result = run_dag("t_sensor", conf={"run": "nope"})
    assert result.task_state("sensor_poke") == "failed"
    assert "No Flyte run named 'nope'" in "".join(capfd.readouterr())


def test_sensor_target_phase_running(flyte):
    from airflow_remote_tasks import RemoteRunSensor
    from airflow_remote_tasks.core.models import RunStatus
    from airflow_remote_tasks.core.phases import Phase

    sensor = RemoteRunSensor(task_id="s", conn_id="flyte_default", run_id="x", target_phases=["running"])
    ref = FlyteHook("flyte_default").platform.ref_for("x")  # type: ignore[attr-defined]
    assert sensor._reached(ref, RunStatus(phase=Phase.RUNNING, raw_phase="ACTION_PHASE_RUNNING"))
    assert not sensor._reached(ref, RunStatus(phase=Phase.QUEUED, raw_phase="ACTION_PHASE_QUEUED"))
    with pytest.raises(ValueError, match="Unknown phase 'runing'; use one of: queued, running"):
        RemoteRunSensor(task_id="t", conn_id="c", run_id="x", target_phases=["runing"])
