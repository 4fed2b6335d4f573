"""Flyte under a hostile tester: a pasted token, discovery that expires, and calls that start or change a run
whose answers are lost."""

from __future__ import annotations

import pytest
from test_flyte_auth import api_key

from airflow_helpers import run_dag
from airflow_remote_tasks.core.errors import RemoteTaskError
from airflow_remote_tasks.operators.remote_task import _submit_failed
from support import assert_nowhere, text_of

pytestmark = [pytest.mark.airflow, pytest.mark.usefixtures("airflow_db")]


def test_flyte_token_pasted_with_a_newline_works(flyte_with_auth, capfd):
    import time

    flyte = flyte_with_auth
    flyte.emulator.tokens["tok-PASTED-0123456789"] = time.time() + 3600  # minted elsewhere
    flyte.connect(access_token="tok-PASTED-0123456789\r\n", auth_header="flyte-authorization")
    result = run_dag("t_hello_worker")
    assert result.state == "success"
    assert_nowhere("tok-PASTED-0123456789", text_of(capfd))


def test_discovery_is_asked_again_once_it_expires(flyte_with_auth, monkeypatch):
    from airflow_remote_tasks.platforms.flyte import auth
    from airflow_remote_tasks.platforms.flyte.hook import FlyteHook

    flyte = flyte_with_auth
    flyte.connect(host="", password=api_key(flyte.url, "airflow", "s3cr3t-VALUE-42"))
    FlyteHook("flyte_default").platform.auth.discovered = None  # the connection's one platform reads it
    assert FlyteHook("flyte_default").test_connection()[0]
    assert FlyteHook("flyte_default").test_connection()[0]
    assert flyte.emulator.app.calls[f"/{auth.GET_OAUTH2_METADATA}"] == 1
    monkeypatch.setattr(auth, "DISCOVERY_TTL", 0.0)
    FlyteHook("flyte_default").platform.auth.discovered = None
    FlyteHook("flyte_default").platform.auth.fetched_token.drop()
    assert FlyteHook("flyte_default").test_connection()[0]
    assert FlyteHook("flyte_default").test_connection()[0]
    assert flyte.emulator.app.calls[f"/{auth.GET_OAUTH2_METADATA}"] == 3


# Every call that starts or changes a run, carried out by the server with its answer lost on the way back:
# the provider attaches to what the call did, and never does it twice.


@pytest.mark.parametrize("mode", ["deferred", "worker"])
def test_lost_answer_to_flyte_create_run(flyte, mode):
    flyte.emulator.app.faults.update({"lose_answer": "CreateRun", "lose_answer_next": 1})
    result = run_dag(f"t_hello_{mode}")
    assert result.state == "success"
    assert flyte.emulator.app.faults.lose_answer_next == 0
    assert len(flyte.runs) == 1


@pytest.mark.parametrize("mode", ["deferred", "worker"])
def test_lost_answer_to_flyte_abort_run(flyte, mode, capfd):
    flyte.emulator.app.faults.update({"lose_answer": "AbortRun", "lose_answer_next": 1})
    result = run_dag(f"t_timeout_{mode}")
    assert result.task_state("remote") == "failed"
    assert "it was aborted" in text_of(capfd)
    assert flyte.emulator.app.faults.lose_answer_next == 0
    [run] = flyte.runs
    assert run["phase"] == "ACTION_PHASE_ABORTED"


def test_a_lost_token_answer_then_a_refused_create_says_refused(flyte_with_auth, caplog):
    from airflow_remote_tasks.core.models import RunOrigin
    from airflow_remote_tasks.registry import hook_for_connection

    flyte = flyte_with_auth
    flyte.connect(host="", password=api_key(flyte.url, "airflow", "s3cr3t-VALUE-42"))
    hook = hook_for_connection("flyte_default")
    platform = hook.platform
    interface = hook.run(platform.resolve_task("demo.say_hello", "latest"))
    wire = platform.prepare_inputs(interface, {"name": "Ada", "n": 1})
    platform.auth.fetched_token.drop()  # the token has run out: the submit asks for a new one first
    faults = flyte.emulator.app.faults
    faults.update({"lose_answer": "POST /oauth2/token", "lose_answer_next": 1})
    faults.update({"fail_method": "CreateRun", "fail_method_next": 1, "error_status": 400})
    origin = RunOrigin(dag_id="d", run_id="r", task_id="t", map_index=-1, generation=0)
    with pytest.raises(RemoteTaskError) as raised:
        hook.run(platform.submit(interface, wire, origin=origin, labels={}, env={}))
    assert faults.lose_answer_next == 0 and faults.fail_method_next == 0
    assert "POST /oauth2/token failed" in caplog.text  # the token's lost answer was asked again
    message = str(_submit_failed("demo.say_hello", raised.value))
    assert "The platform refused it, so no run was started." in message
    assert "may have started" not in message
    assert flyte.runs == []
