"""Julep under a hostile tester: pasted and broken keys, a refused resume, calls that start or change a run
whose answers are lost, and task definitions checked before anything is sent."""

from __future__ import annotations

import httpx
import pytest

from airflow_helpers import run_dag
from airflow_remote_tasks.core.errors import ConfigurationError
from support import JULEP_KEY, assert_nowhere, text_of

pytestmark = [pytest.mark.airflow, pytest.mark.usefixtures("airflow_db")]


@pytest.mark.parametrize("mode", ["deferred", "worker"])
def test_julep_key_pasted_with_a_newline_works_and_never_shows(julep, mode, capfd):
    julep.connect(password=JULEP_KEY + "\n")
    result = run_dag(f"j_hello_{mode}")
    assert result.state == "success"
    assert result.xcom("collect") == {"text": "Hello, Ada! Hello, Ada!"}
    assert_nowhere(JULEP_KEY, text_of(capfd), repr(result.all_xcom_values()))


def test_a_key_broken_inside_is_a_configuration_error_naming_the_field(julep, capfd):
    broken = "jk-FIRST-half\nsecond-HALF"
    julep.connect(password=broken)
    result = run_dag("j_hello_worker")
    assert result.task_state("remote") == "failed"
    text = text_of(capfd)
    assert "The API key of connection 'julep_default' holds a character that cannot be sent" in text
    assert "Could not reach" not in text
    assert_nowhere("jk-FIRST-half", text)
    assert_nowhere("second-HALF", text)
    assert julep.executions == []


def test_resume_is_retried_after_a_refused_put(julep):
    julep.emulator.app.faults.update({"fail_method": "PUT /api/executions/", "fail_method_next": 1})
    result = run_dag("example_julep", conf={"text": "one two"})
    assert result.state == "success", {k: str(v.state) for k, v in result.tis.items()}
    assert julep.emulator.app.faults.fail_method_next == 0  # the 503 was served
    _, review = julep.executions
    assert review["transitions"].count("resume") == 1


# Every call that starts or changes a run, carried out by the server with its answer lost on the way back:
# the provider attaches to what the call did, and never does it twice.


@pytest.mark.parametrize("mode", ["deferred", "worker"])
def test_lost_answer_to_julep_create_execution(julep, mode):
    julep.emulator.app.faults.update({"lose_answer": "POST /api/tasks/", "lose_answer_next": 1})
    result = run_dag(f"j_hello_{mode}")
    assert result.state == "success"
    assert julep.emulator.app.faults.lose_answer_next == 0
    assert len(julep.executions) == 1


def test_lost_answer_to_julep_task_definition(julep):
    julep.emulator.app.faults.update({"lose_answer": "POST /api/agents/", "lose_answer_next": 1})
    result = run_dag("j_hello_worker")
    assert result.state == "success"
    assert julep.emulator.app.faults.lose_answer_next == 0
    assert len(julep.emulator.state.tasks) == 1 and len(julep.executions) == 1


@pytest.mark.parametrize("mode", ["deferred", "worker"])
def test_lost_answer_to_julep_cancel(julep, mode, capfd):
    julep.emulator.app.faults.update({"lose_answer": "PUT /api/executions/", "lose_answer_next": 1})
    result = run_dag(f"j_timeout_{mode}")
    assert result.task_state("remote") == "failed"
    assert "it was aborted" in text_of(capfd)
    assert julep.emulator.app.faults.lose_answer_next == 0
    [execution] = julep.executions
    assert execution["transitions"].count("cancelled") <= 1


def test_lost_answer_to_julep_resume(julep):
    julep.emulator.app.faults.update({"lose_answer": "PUT /api/executions/", "lose_answer_next": 1})
    result = run_dag("example_julep", conf={"text": "one two"})
    assert result.state == "success", {k: str(v.state) for k, v in result.tis.items()}
    assert julep.emulator.app.faults.lose_answer_next == 0
    _, review = julep.executions
    assert review["transitions"].count("resume") == 1


def test_a_bad_julep_definition_is_named_before_anything_is_sent(julep, capfd):
    from airflow_remote_tasks.platforms.julep.hook import JulepHook

    hook = JulepHook("julep_default")
    bad = {"name": "x", "main": "not a list", "tools": [{"name": "t"}]}
    with pytest.raises(ConfigurationError) as raised:
        hook.run(hook.platform.resolve_task(bad, "latest"))
    text = str(raised.value)
    assert "nothing was sent" in text and "'main' must be a non-empty list of steps" in text
    assert "tools[0] needs a 'name' and a 'type'" in text
    with pytest.raises(ConfigurationError, match=r"main\[0\] must hold exactly one of"):
        hook.run(hook.platform.resolve_task({"name": "x", "main": [{"evaluate": {}, "log": "a"}]}, "latest"))
    assert julep.emulator.state.tasks == {}
    assert not [e for e in julep.emulator.exchanges if e["method"] != "GET"]


def test_the_julep_emulator_refuses_a_malformed_task_like_the_server(julep):
    from airflow_remote_tasks.emulators.julep import DEMO_AGENT_ID

    headers = {"Authorization": f"Bearer {JULEP_KEY}"}
    for main, loc in (("not a list", ["body", "main"]), ([{"nope": 1}], ["body", "main", "0"])):
        answer = httpx.post(
            f"{julep.url}/agents/{DEMO_AGENT_ID}/tasks", json={"name": "x", "main": main}, headers=headers
        )
        assert answer.status_code == 422
        assert answer.json()["error"]["details"][0]["loc"] == loc
    assert julep.emulator.state.tasks == {}
