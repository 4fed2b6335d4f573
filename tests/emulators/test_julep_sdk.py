"""The official julep SDK and our provider agree with the emulator: so the emulator speaks Julep."""

from __future__ import annotations

import time

import pytest
from julep import Julep

from airflow_helpers import run_dag
from airflow_remote_tasks.emulators.julep import DEMO_AGENT_ID
from support import JULEP_KEY

pytestmark = [pytest.mark.sdk]


@pytest.fixture
def sdk(julep) -> Julep:
    # strict validation: every response must parse as the SDK's own models
    return Julep(api_key=JULEP_KEY, base_url=julep.url, max_retries=0, _strict_response_validation=True)


def wait_until_ended(sdk: Julep, execution_id: str) -> object:
    for _ in range(100):
        execution = sdk.executions.get(execution_id)
        if execution.status in ("succeeded", "failed", "cancelled"):
            return execution
        time.sleep(0.05)
    raise AssertionError(f"execution {execution_id} did not end")


def test_sdk_creates_a_task_and_runs_it(sdk):
    task = sdk.tasks.create(
        agent_id=DEMO_AGENT_ID,
        name="sdk task",
        input_schema={"type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"]},
        main=[{"evaluate": {"double": "$ steps[0].input.x * 2"}}, {"return": {"result": "$ _.double + 1"}}],
    )
    assert sdk.tasks.get(task.id).name == "sdk task"
    execution = sdk.executions.create(task_id=task.id, input={"x": 20}, metadata={"from": "sdk"})
    assert execution.status == "queued"
    done = wait_until_ended(sdk, execution.id)
    assert done.status == "succeeded"
    assert done.output == {"result": 41}
    assert done.metadata == {"from": "sdk"}
    transitions = list(sdk.executions.transitions.list(execution.id))
    assert transitions[0].type == "finish"  # newest first, the server's default
    # the SDK's auto-pager walks pages of 2 and stops on the empty page past the end
    for n in range(4):
        sdk.executions.create(task_id=task.id, input={"x": n})
    listed = list(sdk.executions.list(task.id, limit=2, direction="asc"))
    assert [e.input["x"] for e in listed] == [20, 0, 1, 2, 3]
    assert task.id in [t.id for t in sdk.tasks.list(DEMO_AGENT_ID)]


def test_sdk_reads_the_execution_the_operator_created(julep, sdk, airflow_db):
    result = run_dag("j_hello_worker")
    execution = sdk.executions.get(result.xcom("remote", "run_id"))
    assert execution.status == "succeeded"
    assert execution.output == result.xcom("collect") == {"text": "Hello, Ada! Hello, Ada!"}
    assert execution.metadata["airflow_dag_id"] == "j_hello_worker"
    # and the task the operator created from its definition is an ordinary task to the SDK
    task = sdk.tasks.get(execution.task_id)
    assert task.name == "greet" and task.metadata["created_by"] == "airflow"


def test_sdk_cancels_an_execution_and_the_provider_sees_it(julep, sdk):
    from airflow_remote_tasks.platforms.julep.hook import JulepHook

    task = sdk.tasks.create(
        agent_id=DEMO_AGENT_ID,
        name="slow",
        main=[{"sleep": {"seconds": 0, "minutes": 0, "hours": 1, "days": 0}}],
    )
    execution = sdk.executions.create(task_id=task.id, input={})
    assert sdk.executions.change_status(execution.id, status="cancelled", reason="test") is None
    assert wait_until_ended(sdk, execution.id).status == "cancelled"
    hook = JulepHook("julep_default")
    status = hook.run(hook.platform.status(hook.run(hook.platform.find_run(execution.id))))
    assert (status.phase.value, status.raw_phase) == ("aborted", "cancelled")


def test_sdk_resumes_an_execution_that_waits_for_input(julep, sdk):
    task = sdk.tasks.create(
        agent_id=DEMO_AGENT_ID,
        name="ask",
        main=[{"wait_for_input": {"info": {"q": "ok?"}}}, {"return": {"answer": "$ _.answer"}}],
    )
    execution = sdk.executions.create(task_id=task.id, input={})
    for _ in range(100):
        if sdk.executions.get(execution.id).status == "awaiting_input":
            break
        time.sleep(0.05)
    assert sdk.executions.get(execution.id).output == {"q": "ok?"}
    sdk.executions.change_status(execution.id, status="running", input={"answer": "yes"})
    assert wait_until_ended(sdk, execution.id).output == {"answer": "yes"}


def test_sdk_refuses_a_bad_key(julep):
    from julep import PermissionDeniedError

    client = Julep(api_key="wrong", base_url=julep.url, max_retries=0)
    with pytest.raises(PermissionDeniedError, match="Could not validate API KEY"):
        client.agents.list()
