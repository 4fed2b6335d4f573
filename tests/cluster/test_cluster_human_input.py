"""A person answers a paused Julep execution in the real Airflow's Required actions, through its REST API: the
task waits in awaiting_input (no trigger), the answer resumes the execution with it, and a rejection cancels it.
"""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(600)]


def asked(airflow, dag_id: str, run_id: str) -> dict[str, Any] | None:
    """The run's human-in-the-loop request still waiting for an answer, once its task waits for one and the
    executor has told the scheduler that the task's process ended. A person takes seconds to answer; an answer
    within the second would race that report, and Airflow fails a task whose process's end it hears of after
    the answer queued it again ("the task instance's state attribute is queued")."""
    body = airflow.api(
        "GET", f"dags/{dag_id}/dagRuns/{run_id}/hitlDetails", params={"response_received": False}
    )
    pending = body["hitl_details"]
    if (
        pending
        and airflow.task_state(dag_id, run_id, "decide") == "awaiting_input"
        and process_ended(airflow, dag_id, run_id)
    ):
        return dict(pending[0])
    return None


def process_ended(airflow, dag_id: str, run_id: str) -> bool:
    """Whether a scheduler logged the executor's report of the end of the decide task's first process."""
    key = f"TaskInstanceKey(dag_id='{dag_id}', task_id='decide', run_id='{run_id}', try_number=1"
    return any(
        f"Received executor event with state success for task instance {key}"
        in log.read_text(errors="replace")
        for log in airflow.logs.glob("scheduler*.log")
    )


def answer(airflow, dag_id: str, run_id: str, option: str, params: dict[str, Any]) -> dict[str, Any]:
    """What a person's click on an option in Required actions sends, as the logged-in admin."""
    return dict(
        airflow.api(
            "PATCH",
            f"dags/{dag_id}/dagRuns/{run_id}/taskInstances/decide/-1/hitlDetails",
            json={"chosen_options": [option], "params_input": params},
        )
    )


def resume_input(emulator, execution_id: str) -> Any:
    """The input the execution was resumed with, as the emulator received it (None: never resumed)."""
    execution = emulator.state.executions[execution_id]
    return next((t["output"] for t in execution.transitions if t["type"] == "resume"), None)


def test_a_person_answers_in_airflow_and_the_execution_resumes_or_is_cancelled(airflow, julep_emulator):
    emulator, _ = julep_emulator
    example = "example_julep_human_input"
    published = airflow.trigger(example, {"title": "From the cluster"})
    rejected = airflow.trigger("human_input_publish", {"title": "Not this one"})  # both wait at once

    request = airflow.wait_until(
        lambda: asked(airflow, example, published), 240, "the example to ask", every=0.5
    )
    execution_id = airflow.xcom(example, published, "draft", "run_id")
    assert airflow.xcom(example, published, "draft")["waiting_for"] == {
        "question": "Publish this post?",
        "title": "From the cluster",
    }
    # what the person sees: the execution's prompt, and the choices and field of the request
    assert request["subject"] == "Publish this post?"
    assert f"Run `{execution_id}` waits for input." in request["body"]
    assert "- **question**: Publish this post?" in request["body"]
    assert "- **title**: From the cluster" in request["body"]
    assert request["options"] == ["Publish", "Reject"] and list(request["params"]) == ["comment"]
    assert emulator.state.executions[execution_id].status == "awaiting_input"  # it waits meanwhile

    response = answer(airflow, example, published, "Publish", {"comment": "looks good"})
    assert response["chosen_options"] == ["Publish"] and response["responded_by"]["name"] == "admin"

    airflow.wait_until(lambda: asked(airflow, "human_input_publish", rejected), 240, "the second run to ask")
    rejected_id = airflow.xcom("human_input_publish", rejected, "draft", "run_id")
    answer(airflow, "human_input_publish", rejected, "Reject", {})

    assert airflow.wait_for_run(example, published, 240) == "success"
    assert resume_input(emulator, execution_id) == {
        "publish": True,
        "comment": "looks good",
        "reviewer": "admin",
    }
    assert emulator.state.executions[execution_id].status == "succeeded"
    assert (
        airflow.xcom(example, published, "report")
        == "'From the cluster': publish=True by admin ('looks good')"
    )
    assert airflow.xcom(example, published, "decide", "answer") == {"option": "Publish", "by": "admin"}

    assert airflow.wait_for_run("human_input_publish", rejected, 240) == "success"
    assert airflow.task_state("human_input_publish", rejected, "decide") == "skipped"
    airflow.wait_until(
        lambda: emulator.state.executions[rejected_id].status == "cancelled",
        30,
        "the execution to be cancelled",
    )
    assert resume_input(emulator, rejected_id) is None
