"""ResumeRunOperator(ask=HumanInput(...)) on Julep in real dag.test() runs: the task waits in awaiting_input, a
person answers through Airflow's own REST API (its Core API app, on the same metadata database), and the
execution is resumed with the answer, cancelled, or left waiting."""

from __future__ import annotations

import re
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.sdk import DAG

from airflow_helpers import DagResult
from airflow_remote_tasks.core.errors import ConfigurationError, PermanentError
from airflow_remote_tasks.core.models import RunRef
from airflow_remote_tasks.operators.human_input import HumanInput, prompt
from airflow_remote_tasks.operators.resume_run import RESUMED_AT_KEY, ResumeRunOperator
from support import CLUSTER_DAGS, text_of

# dag.test() waits for as long as a request goes unanswered: a test that breaks must not hang the suite.
pytestmark = [
    pytest.mark.airflow,
    pytest.mark.usefixtures("airflow_db"),
    pytest.mark.timeout(240, method="thread"),
]

SECRET_COMMENT = "ship-it-SECRET-comment-31"


class Person:
    """Answers Airflow's human-in-the-loop requests as a person does in the UI: through the REST API."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def pending(self, dag_id: str) -> list[dict[str, Any]]:
        answer = self.client.get(
            f"/api/v2/dags/{dag_id}/dagRuns/~/hitlDetails", params={"response_received": False}
        )
        answer.raise_for_status()
        return list(answer.json()["hitl_details"])

    def answer_when_asked(self, dag_id: str, option: str, params: dict[str, Any]) -> dict[str, Any]:
        """In the background: wait for the request (until ``seen["stop"]`` is set: however long the run takes
        to ask on a busy machine), keep it, and answer it."""
        stop = threading.Event()
        seen: dict[str, Any] = {"stop": stop}

        def answer() -> None:
            while not stop.is_set():
                try:
                    asked = self.pending(dag_id)
                except Exception as error:  # a busy SQLite answers "database is locked": ask again
                    seen["error"] = error
                    asked = []
                # Answered once the task is parked: dag.test() on SQLite loses an answer given between the
                # request's writing and the park (the real Airflow's park resumes such a task at once).
                if asked and asked[0]["task_instance"]["state"] == "awaiting_input":
                    break
                stop.wait(0.2)
            else:
                return
            [request] = asked
            ti = request["task_instance"]
            seen["request"] = request
            seen["response"] = self.client.patch(
                f"/api/v2/dags/{dag_id}/dagRuns/{ti['dag_run_id']}/taskInstances/{ti['task_id']}/"
                f"{ti['map_index']}/hitlDetails",
                json={"chosen_options": [option], "params_input": params},
            )

        thread = threading.Thread(target=answer, daemon=True)
        thread.start()
        seen["thread"] = thread
        return seen


@pytest.fixture(scope="module")
def person(airflow_db) -> Iterator[Person]:
    """Airflow's Core API app on the tests' metadata database (every caller an admin, as in a local UI), and the
    DAGs of tests/cluster_dags/human_input.py in the DAG folder dag.test() reads them from."""
    from airflow.api_fastapi.app import create_app
    from fastapi.testclient import TestClient

    from airflow import settings

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "True")
        patch.setenv("AIRFLOW__API_AUTH__JWT_SECRET", "human-input-tests-" + "0123456789abcdef" * 3)
        patch.setattr(settings, "DAGS_FOLDER", str(CLUSTER_DAGS))
        with TestClient(create_app("core")) as client:
            yield Person(client)


def dag(dag_id: str) -> DAG:
    sys.path.insert(0, str(CLUSTER_DAGS))
    import human_input

    found: DAG = getattr(human_input, dag_id)
    return found


def run_answered(
    person: Person, found: DAG, option: str, params: dict[str, Any]
) -> tuple[DagResult, dict[str, Any]]:
    seen = person.answer_when_asked(found.dag_id, option, params)
    try:
        result = DagResult(found.test())
    finally:
        seen["stop"].set()
        seen["thread"].join(10)
    return result, seen


def test_a_person_answers_and_the_execution_resumes_with_the_answer(julep, person, capfd):
    julep.connect(execution_link="https://julep.example/executions/{execution_id}")
    result, seen = run_answered(person, dag("human_input_publish"), "Publish", {"comment": SECRET_COMMENT})
    assert seen["response"].status_code == 200, seen["response"].text
    assert result.state == "success", {k: str(v.state) for k, v in result.tis.items()}
    # what the person was shown: the execution's prompt and its link
    request = seen["request"]
    [execution] = julep.executions
    assert request["options"] == ["Publish", "Reject"]
    assert request["subject"] == f"Julep run {execution['id']} waits for input"
    link = f"https://julep.example/executions/{execution['id']}"
    assert f"Run [`{execution['id']}`]({link}) waits for input." in request["body"]
    assert "- **question**: Publish this post?" in request["body"] and "- **title**: Hello" in request["body"]
    assert request["params"]["comment"]["schema"] == {"type": "string", "maxLength": 40}
    # the execution got the answer as its input, and went on to its end
    assert execution["status"] == "succeeded"
    assert execution["transitions"][-3:] == ["resume", "step", "finish"]
    [resumed] = [
        t for t in julep.emulator.state.executions[execution["id"]].transitions if t["type"] == "resume"
    ]
    assert resumed["output"] == {
        "source": "airflow",  # the operator's inputs, with the answer laid over them
        "publish": True,
        "comment": SECRET_COMMENT,
        "reviewer": "Anonymous",
    }
    assert result.xcom("decide") == {
        "title": "Hello",
        "publish": True,
        "comment": SECRET_COMMENT,
        "by": "Anonymous",
    }
    assert result.xcom("decide", "answer") == {"option": "Publish", "by": "Anonymous"}
    text = text_of(capfd)
    assert (
        "Resumed run" in text
        and "'Publish' chosen by Anonymous: inputs ['comment', 'publish', 'reviewer', 'source']" in text
    )
    # What the person typed goes to the run: the provider's own lines name the inputs only. Only the run's
    # steps, copied as progress lines, show what the run did with it (as Airflow shows the answer itself).
    assert [line for line in text.splitlines() if SECRET_COMMENT in line]
    assert all(": step " in line for line in text.splitlines() if SECRET_COMMENT in line)


class Store:
    """A task_state_store as the operator sees it (get, set)."""

    def __init__(self, **values: Any) -> None:
        self.values = dict(values)

    def get(self, key: str) -> Any:
        return self.values.get(key)

    def set(self, key: str, value: Any) -> None:
        self.values[key] = value


def test_execution_timeout_counts_from_the_resume_after_the_answer_not_from_the_try_start():
    """A task resumed from awaiting_input gets its try's first start from Airflow's API server: hours before,
    when the person took hours. The run's limit counts from the resume the answer led to."""
    decide = ResumeRunOperator(
        task_id="decide",
        conn_id="julep_default",
        run_id="068306ff-e0f3-7fe9-8000-0013626a759a",
        ask=HumanInput(answers={"OK": {}}),
        execution_timeout=timedelta(seconds=4),
    )
    resumed = time.time()
    asked_long_ago = SimpleNamespace(start_date=datetime.now(timezone.utc) - timedelta(hours=8))
    context: Any = {"ti": asked_long_ago, "task_state_store": Store(**{RESUMED_AT_KEY: resumed})}
    assert decide._deadline(context, None) == pytest.approx(resumed + 4)
    # Before any answer (or without ask) it is the try's own start.
    context["task_state_store"] = Store()
    assert decide._deadline(context, None) == pytest.approx(asked_long_ago.start_date.timestamp() + 4)


def test_a_rejection_cancels_the_execution_and_skips_the_task(julep, person):
    result, seen = run_answered(person, dag("human_input_publish"), "Reject", {})
    assert seen["response"].status_code == 200
    assert result.task_state("decide") == "skipped"
    assert len(julep.executions) == 1
    for _ in range(50):  # the server records the cancellation a moment later
        if julep.executions[0]["status"] == "cancelled":
            break
        time.sleep(0.05)
    assert julep.executions[0]["status"] == "cancelled"
    assert "resume" not in julep.executions[0]["transitions"]
    assert result.xcom("decide", "answer") == {"option": "Reject", "by": "Anonymous"}


def test_a_rejection_can_fail_the_task_and_leave_the_execution_waiting(julep, person, capfd):
    result, _ = run_answered(person, dag("human_input_reject_fails"), "Reject", {})
    assert result.task_state("decide") == "failed"
    assert result.try_number("decide") == 1
    assert "Rejected: 'Reject' chosen by Anonymous. Run" in text_of(capfd)
    assert julep.executions[0]["status"] == "awaiting_input"


def test_an_answer_that_breaks_its_schema_sends_nothing_and_quotes_nothing(julep, person, capfd):
    result, _ = run_answered(person, dag("human_input_publish"), "Publish", {"comment": SECRET_COMMENT * 3})
    assert result.task_state("decide") == "failed"
    text = text_of(capfd)
    assert "The answer's 'comment' is missing or does not match its schema" in text
    assert SECRET_COMMENT not in text
    assert julep.executions[0]["status"] == "awaiting_input"


def test_a_run_that_does_not_wait_for_input_is_not_asked_about(julep, person, capfd):
    answered, _ = run_answered(person, dag("human_input_publish"), "Publish", {})
    execution_id = answered.xcom("draft", "run_id")
    assert julep.executions[0]["status"] == "succeeded"
    result = DagResult(dag("human_input_julep").test(run_conf={"run": execution_id}))
    assert result.task_state("decide") == "failed"
    assert result.try_number("decide") == 1  # retries cannot make it wait for input
    text = text_of(capfd)
    assert f"Run {execution_id} is succeeded" in text
    assert "not waiting for input: there is nothing to ask. Nothing was asked or sent." in text
    assert person.pending("human_input_julep") == [] and len(julep.executions) == 1


def test_a_platform_whose_runs_cannot_be_resumed_is_refused_before_any_call(flyte, person, capfd):
    flyte.connect()
    result = DagResult(dag("human_input_flyte").test(run_conf={"run": "rk2x8w4qz7n5m1p9s3t6"}))
    assert result.task_state("decide") == "failed"
    assert result.try_number("decide") == 1
    assert "cannot resume" in text_of(capfd)
    assert person.pending("human_input_flyte") == [] and flyte.runs == []


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"answers": {}}, "answers must map each option shown to the input it gives the run"),
        ({"answers": {"No": None}}, "every option is a rejection"),
        ({"answers": {"OK": ["x"]}}, "answers['OK'] must be a mapping of names to values"),
        ({"answers": {"OK": {}}, "default": "Yes"}, "default must be one of answers ('OK'), not 'Yes'"),
        (
            {"answers": {"OK": {}}, "on_reject": "skip"},
            "on_reject must be one of 'cancel', 'fail', not 'skip'",
        ),
        ({"answers": {"OK": {}}, "response_timeout": "1h"}, "response_timeout must be a number of seconds"),
        ({"answers": {"OK": {}}, "params": {"_options": 1}}, "params must not name '_options'"),
    ],
)
def test_bad_arguments_fail_when_the_dag_is_parsed(arguments, message):
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        HumanInput(**arguments)


def test_no_answer_within_the_response_timeout_fails_and_the_default_is_taken():
    ref = RunRef(platform="julep", run_id="r-1", url="")
    ask = HumanInput(answers={"Go": {"go": True}, "Stop": None}, default="Stop")
    # the scheduler's sweep resumes the task with one of these when response_timeout passes
    with pytest.raises(
        PermanentError,
        match=re.escape(
            "No answer came for run r-1: The Human-in-the-loop response timeout has passed. The run was not"
        ),
    ):
        ask.answer_of(
            {"error": "The Human-in-the-loop response timeout has passed.", "error_type": "timeout"}, ref
        )
    taken = ask.answer_of({"chosen_options": ["Stop"], "params_input": {}, "responded_by_user": None}, ref)
    assert (taken.option, taken.inputs, taken.describe()) == ("Stop", None, "'Stop' (the default)")


def test_the_prompt_is_readable_and_bounded():
    ref = RunRef(platform="julep", run_id="r-1", url="https://julep.example/executions/r-1")
    text = prompt("Look:", ref, {"question": "Go?\nReally?", "n": 3, "items": [1, 2]})
    assert text.splitlines() == [
        "Look:",
        "",
        "Run [`r-1`](https://julep.example/executions/r-1) waits for input.",
        "",
        "- **question**: Go? Really?",
        "- **n**: `3`",
        "- **items**: `[1, 2]`",
    ]
    assert "```" in prompt(None, ref, ["a"])
    assert len(prompt(None, ref, {"big": "x" * 100_000}).encode()) < 5000
