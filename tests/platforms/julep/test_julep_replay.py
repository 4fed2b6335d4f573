"""Julep's operations driven with canned answers through the real executors (core.replay): what each sends, what
it makes of each answer, and what it does when an answer is lost. No server, no Airflow: milliseconds each."""

from __future__ import annotations

import asyncio
import json

import pytest
from pydantic import SecretStr

from airflow_remote_tasks.core.declaration import Capability
from airflow_remote_tasks.core.errors import (
    ApiError,
    AuthenticationError,
    ConfigurationError,
    InvalidInputsError,
    NotFoundError,
    TransportError,
    UnexpectedAnswerError,
)
from airflow_remote_tasks.core.models import RunOrigin, RunRef, TaskInterface
from airflow_remote_tasks.core.phases import Phase
from airflow_remote_tasks.core.replay import Replay, reply
from airflow_remote_tasks.platforms.julep.config import JulepConfig
from airflow_remote_tasks.platforms.julep.executions import RUN_KEY
from airflow_remote_tasks.platforms.julep.platform import JulepPlatform
from airflow_remote_tasks.platforms.julep.tasks import (
    DEFINITION_HASH,
    definition_hash,
    definition_task_id,
    task_interface,
)

API = "https://julep.test/api"
KEY = "jk-SECRET-replay"
AGENT = "5e1f0000-0000-4000-8000-000000000001"
TASK = "0f0e0000-0000-4000-8000-00000000000a"
RUN = "068306ff-e0f3-7fe9-8000-0013626a759a"
ORIGIN = RunOrigin(dag_id="d", run_id="r", task_id="t")
SCHEMA = {
    "type": "object",
    "properties": {"topic": {"type": "string"}, "count": {"type": "integer", "default": 2}},
    "required": ["topic"],
}


def julep(**config: str) -> JulepPlatform:
    return JulepPlatform(JulepConfig(base_url=API, api_key=SecretStr(KEY), **{"agent_id": AGENT, **config}))


def interface() -> TaskInterface:
    return TaskInterface(platform="julep", task="summarize", wire={"task_id": TASK, "input_schema": SCHEMA})


def execution(status: str = "running", **fields: object) -> dict[str, object]:
    return {"id": RUN, "task_id": TASK, "status": status, **fields}


def page(*items: dict[str, object]) -> dict[str, object]:
    return {"items": list(items)}


def mine(status: str = "running") -> dict[str, object]:
    """An execution this try started: its metadata carries the try's key."""
    return execution(status, metadata={RUN_KEY: ORIGIN.run_name})


def submit(platform: JulepPlatform, inputs: dict[str, object], **kwargs: object):
    return platform.submit(
        interface(), inputs, origin=ORIGIN, labels=kwargs.pop("labels", {}), env=kwargs.pop("env", {})
    )


def sent(replay: Replay) -> list[str]:
    return [f"{r.method} {r.url.path}" for r in replay.requests]


EXECUTIONS = f"/api/tasks/{TASK}/executions"


# -- tasks ------------------------------------------------------------------------------------------------


def test_a_task_by_id_gives_its_interface_from_its_input_schema():
    platform = julep()
    replay = Replay([reply(json={"id": TASK, "name": "summarize", "input_schema": SCHEMA})])
    found = replay.run(platform.resolve_task(TASK, "latest"), platform=platform)
    assert sent(replay) == [f"GET /api/tasks/{TASK}"]
    assert replay.requests[0].headers["authorization"] == f"Bearer {KEY}"
    assert found.task == "summarize" and found.wire == {"task_id": TASK, "input_schema": SCHEMA}
    assert [(i.name, i.required, i.has_default) for i in found.inputs] == [
        ("topic", True, False),
        ("count", False, True),
    ]


def test_a_task_by_name_is_found_among_the_agents_tasks():
    platform = julep()
    replay = Replay([reply(json=page({"id": "other", "name": "x"}, {"id": TASK, "name": "summarize"}))])
    found = replay.run(platform.resolve_task("summarize", ""), platform=platform)
    assert sent(replay) == [f"GET /api/agents/{AGENT}/tasks"]
    assert found.wire["task_id"] == TASK


def test_a_task_name_no_task_has_is_not_found_naming_the_agent():
    platform = julep()
    replay = Replay([reply(json=page({"id": "other", "name": "x"}))])
    with pytest.raises(NotFoundError, match=f"Agent {AGENT} has no Julep task named 'nope'"):
        replay.run(platform.resolve_task("nope", ""), platform=platform)


def test_a_definition_is_created_under_its_own_id_and_left_alone_when_unchanged():
    definition = {"name": "summarize", "main": [{"evaluate": {"x": "$ 1"}}]}
    task_id = definition_task_id(AGENT, "summarize")
    platform = julep()
    replay = Replay([reply(status=404, json={"detail": "Task not found"}), reply(json={"id": task_id})])
    replay.run(platform.resolve_task(definition, "latest"), platform=platform)
    assert sent(replay) == [f"GET /api/tasks/{task_id}", f"POST /api/agents/{AGENT}/tasks/{task_id}"]
    saved = replay.bodies[1]
    assert saved["metadata"] == {"created_by": "airflow", DEFINITION_HASH: definition_hash(definition)}
    unchanged = {"id": task_id, "metadata": {DEFINITION_HASH: definition_hash(definition)}}
    again = Replay([reply(json=unchanged)])
    again.run(platform.resolve_task(definition, "latest"), platform=platform)
    assert sent(again) == [f"GET /api/tasks/{task_id}"]  # no update


def test_a_definition_that_cannot_be_used_sends_nothing():
    replay = Replay([])
    with pytest.raises(ConfigurationError, match="'main' is missing"):
        replay.run(julep().resolve_task({"name": "x"}, "latest"))
    assert replay.requests == []


def test_inputs_are_checked_against_the_schema_and_its_defaults_filled():
    platform = julep()
    assert platform.prepare_inputs(interface(), {"topic": "t"}) == {"topic": "t", "count": 2}
    with pytest.raises(InvalidInputsError, match="unknown input 'colour'"):
        platform.prepare_inputs(interface(), {"topic": "t", "colour": 1})


# -- submit -----------------------------------------------------------------------------------------------


def test_submit_looks_its_key_up_then_creates_once_with_its_input_and_metadata():
    platform = julep(execution_link="https://dash.test/executions/{execution_id}")
    replay = Replay([reply(json=page()), reply(json=execution("queued"))])
    inputs = platform.prepare_inputs(interface(), {"topic": "t"})
    ref = replay.run(submit(platform, inputs, labels={"team": "ml"}), platform=platform)
    assert sent(replay) == [f"GET {EXECUTIONS}", f"POST {EXECUTIONS}"]
    assert replay.requests[0].url.params["direction"] == "desc"
    body = replay.bodies[1]
    assert body["input"] == {"topic": "t", "count": 2}
    assert body["metadata"] == {
        "team": "ml",
        "airflow_dag_id": "d",
        "airflow_run_id": "r",
        "airflow_task_id": "t",
        "airflow_map_index": -1,
        RUN_KEY: "af-34778385d13f903e24c6",  # as an earlier release wrote it: its executions are still found
    }
    assert ref == RunRef(
        platform="julep", run_id=RUN, scope={"task_id": TASK}, url=f"https://dash.test/executions/{RUN}"
    )


def test_submit_attaches_to_the_unfinished_execution_its_key_finds():
    platform = julep()
    other = {**execution("running"), "id": "0" * 8 + RUN[8:], "metadata": {RUN_KEY: "af-someone-else"}}
    replay = Replay([reply(json=page(other, mine("running")))])
    ref = replay.run(submit(platform, {"topic": "t"}), platform=platform)
    assert sent(replay) == [f"GET {EXECUTIONS}"] and ref.run_id == RUN


@pytest.mark.parametrize("ended", ["failed", "cancelled"])
def test_a_failed_or_cancelled_execution_of_the_key_is_not_reused(ended):
    platform = julep()
    replay = Replay([reply(json=page(mine(ended))), reply(json=execution("queued"))])
    replay.run(submit(platform, {"topic": "t"}), platform=platform)
    assert sent(replay) == [f"GET {EXECUTIONS}", f"POST {EXECUTIONS}"]


def test_a_create_whose_answer_was_lost_attaches_to_what_it_started():
    platform = julep()
    replay = Replay([reply(json=page()), reply(lost=True), reply(json=page(mine("queued")))])
    ref = replay.run(submit(platform, {"topic": "t"}), platform=platform)
    assert sent(replay) == [f"GET {EXECUTIONS}", f"POST {EXECUTIONS}", f"GET {EXECUTIONS}"]
    assert ref.run_id == RUN


def test_a_create_that_never_gets_an_answer_is_sent_three_times_each_after_a_lookup():
    platform = julep()
    replay = Replay([reply(json=page()), reply(lost=True)] * 3)
    with pytest.raises(TransportError) as raised:
        replay.run(submit(platform, {"topic": "t"}), platform=platform)
    assert sent(replay) == [f"GET {EXECUTIONS}", f"POST {EXECUTIONS}"] * 3
    assert raised.value.answer_lost  # the run may have started


def test_inputs_that_do_not_match_the_schema_are_refused_before_any_call():
    found = task_interface({"id": TASK, "name": "summarize", "input_schema": SCHEMA})
    with pytest.raises(InvalidInputsError) as raised:
        julep().prepare_inputs(found, {"count": "x"})
    assert str(raised.value) == (
        "Inputs for Julep task 'summarize' do not match its input_schema; nothing was submitted.\n"
        "- 'topic' is a required property\n"
        "- count: 'x' is not of type 'integer'\n"
        "Expected inputs:\n"
        "  topic: string\n"
        "  count: integer (default 2)"
    )


def test_a_refused_input_is_invalid_and_not_sent_again():
    platform = julep()
    replay = Replay([reply(json=page()), reply(status=400, json={"detail": "input.topic: not a string"})])
    with pytest.raises(InvalidInputsError, match="Julep refused the execution of task 'summarize'") as raised:
        replay.run(submit(platform, {"topic": 1}), platform=platform)
    assert "not a string" in str(raised.value) and "Expected inputs:" in str(raised.value)
    assert sent(replay) == [f"GET {EXECUTIONS}", f"POST {EXECUTIONS}"]


# -- status, outputs --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("word", "phase"),
    [
        ("queued", Phase.QUEUED),
        ("starting", Phase.QUEUED),
        ("running", Phase.RUNNING),
        ("awaiting_input", Phase.PAUSED),
        ("succeeded", Phase.SUCCEEDED),
        ("failed", Phase.FAILED),
        ("cancelled", Phase.ABORTED),
        ("paused", Phase.UNKNOWN),  # a word no table has: not finished
    ],
)
def test_each_status_word_has_its_phase(word, phase):
    platform = julep()
    replay = Replay([reply(json=execution(word, transition_count=4))])
    status = replay.run(platform.status(RunRef(platform="julep", run_id=RUN)), platform=platform)
    assert sent(replay) == [f"GET /api/executions/{RUN}"]
    assert (status.phase, status.raw_phase, status.steps) == (phase, word, 4)


def test_a_failure_says_the_error_and_a_pause_what_it_waits_for():
    platform = julep()
    ref = RunRef(platform="julep", run_id=RUN)
    failed = Replay([reply(json=execution("failed", error="step 2: division by zero"))])
    assert failed.run(platform.status(ref)).message == "step 2: division by zero"
    paused = Replay([reply(json=execution("awaiting_input", output={"q": "go?"}))])
    assert paused.run(platform.status(ref)).message == 'waiting for input: {"q":"go?"}'


def test_outputs_are_the_executions_output_value():
    platform = julep()
    replay = Replay([reply(json=execution("succeeded", output={"summary": "s", "n": [1, 2]}))])
    assert replay.run(platform.outputs(RunRef(platform="julep", run_id=RUN))) == {"summary": "s", "n": [1, 2]}


def test_find_run_refuses_an_id_that_is_no_execution_uuid_before_sending():
    replay = Replay([])
    with pytest.raises(ConfigurationError, match="is not a valid Julep run id"):
        replay.run(julep().find_run("../agents"))
    assert replay.requests == []


# -- abort, resume ----------------------------------------------------------------------------------------


def test_abort_asks_a_running_execution_to_cancel_with_the_reason():
    platform = julep()
    replay = Replay([reply(json=execution("running")), reply(json=execution("running"))])
    assert replay.run(platform.abort(RunRef(platform="julep", run_id=RUN), "killed"), platform=platform)
    assert sent(replay) == [f"GET /api/executions/{RUN}", f"PUT /api/executions/{RUN}"]
    assert replay.bodies[1] == {"status": "cancelled", "reason": "killed"}


@pytest.mark.parametrize(
    "answer", [reply(json=execution("succeeded")), reply(status=404, json={"detail": "gone"})]
)
def test_abort_leaves_an_ended_or_gone_execution_alone(answer):
    replay = Replay([answer])
    assert replay.run(julep().abort(RunRef(platform="julep", run_id=RUN), "killed"))
    assert [r.method for r in replay.requests] == ["GET"]


def test_resume_gives_a_waiting_execution_its_input():
    platform = julep()
    replay = Replay([reply(json=execution("awaiting_input")), reply(json=execution("running"))])
    replay.run(platform.resume(RunRef(platform="julep", run_id=RUN), {"ok": True}), platform=platform)
    assert sent(replay) == [f"GET /api/executions/{RUN}", f"PUT /api/executions/{RUN}"]
    assert replay.bodies[1] == {"status": "running", "input": {"ok": True}}


def test_resume_of_an_execution_that_no_longer_waits_sends_nothing():
    replay = Replay([reply(json=execution("running"))])
    replay.run(julep().resume(RunRef(platform="julep", run_id=RUN), {"ok": True}))
    assert [r.method for r in replay.requests] == ["GET"]


def test_a_resume_whose_answer_was_lost_is_not_sent_twice_once_the_execution_runs():
    replay = Replay(
        [reply(json=execution("awaiting_input")), reply(lost=True), reply(json=execution("running"))]
    )
    replay.run(julep().resume(RunRef(platform="julep", run_id=RUN), {"ok": True}))
    assert [r.method for r in replay.requests] == ["GET", "PUT", "GET"]


def test_a_resume_whose_answer_was_lost_before_it_arrived_is_sent_again():
    waiting = reply(json=execution("awaiting_input"))
    replay = Replay([waiting, reply(lost=True), waiting, reply(json=execution("running"))])
    replay.run(julep().resume(RunRef(platform="julep", run_id=RUN), {"ok": True}))
    assert [r.method for r in replay.requests] == ["GET", "PUT", "GET", "PUT"]


# -- progress, logs, what Julep cannot do -----------------------------------------------------------------


def transition(step: int, kind: str, output: object, **fields: object) -> dict[str, object]:
    return {"type": kind, "current": {"workflow": "main", "step": step}, "output": output, **fields}


def test_progress_reads_the_transitions_after_those_seen_oldest_first():
    platform = julep()
    replay = Replay([reply(json=page(transition(2, "step", {"x": 1}, step_label="add")))])
    progress = replay.run(platform.progress(RunRef(platform="julep", run_id=RUN), 2), platform=platform)
    [request] = replay.requests
    assert request.url.path == f"/api/executions/{RUN}/transitions"
    assert (request.url.params["offset"], request.url.params["direction"]) == ("2", "asc")
    assert progress.lines == ['step 2 (add) step: {"x":1}'] and progress.seen == 3


def test_logs_are_the_last_transitions_oldest_first():
    newest_first = page(
        transition(1, "finish", "done"), transition(0, "init", None, current={"workflow": "sub", "step": 0})
    )
    replay = Replay([reply(json=newest_first)])
    lines = replay.run(julep().logs(RunRef(platform="julep", run_id=RUN), None, 5))  # type: ignore[arg-type]
    assert replay.requests[0].url.params["limit"] == "5"
    assert lines == ["step 0 of sub init: null", 'step 1 finish: "done"']


def test_listing_and_downloads_are_what_julep_cannot_do():
    platform = julep()
    with pytest.raises(ConfigurationError, match="Julep lists executions per task"):
        platform.check_selector({"task": TASK})
    with pytest.raises(ConfigurationError) as raised:
        Replay([]).run(platform.download(RunRef(platform="julep", run_id=RUN), "o", None))  # type: ignore[arg-type]
    assert str(raised.value) == str(platform.cannot(Capability.STREAMED_OUTPUTS))


# -- errors -----------------------------------------------------------------------------------------------


def test_a_refused_key_is_an_authentication_error_that_does_not_show_the_key():
    for status in (401, 403):
        replay = Replay([reply(status=status, json={"detail": "Invalid API key"})])
        with pytest.raises(AuthenticationError, match="The API key was refused") as raised:
            replay.run(julep().status(RunRef(platform="julep", run_id=RUN)), platform=julep())
        assert KEY not in str(raised.value)


def test_a_missing_execution_is_not_found_naming_it():
    replay = Replay([reply(status=404, json={"detail": "Execution not found"})])
    with pytest.raises(NotFoundError, match=f"No Julep execution with id '{RUN}' at {API}"):
        replay.run(julep().find_run(RUN))


def test_429_and_5xx_are_asked_again_and_then_answered():
    replay = Replay(
        [
            reply(status=429, json={"detail": "slow down"}),
            reply(status=503, json={"detail": "busy"}),
            reply(json=execution()),
        ]
    )
    assert replay.run(julep().status(RunRef(platform="julep", run_id=RUN))).phase is Phase.RUNNING
    assert len(replay.requests) == 3


def test_a_5xx_that_stays_fails_as_a_retryable_api_error():
    replay = Replay(lambda request: reply(status=500, json={"detail": "internal error"}))
    with pytest.raises(ApiError, match="failed with HTTP 500 after 5 tries: internal error") as raised:
        replay.run(julep().status(RunRef(platform="julep", run_id=RUN)))
    assert raised.value.retryable


def test_answers_in_someone_elses_words_name_the_url_and_the_base_url_hint():
    proxy_page = reply(status=404, content=b"<html>nginx</html>", headers={"content-type": "text/html"})
    with pytest.raises(
        UnexpectedAnswerError, match=r"which is not a Julep API answer\. Check the connection's base URL"
    ):
        Replay([proxy_page]).run(julep().status(RunRef(platform="julep", run_id=RUN)))
    no_page = Replay([reply(json={"data": []})])
    with pytest.raises(
        UnexpectedAnswerError, match=f"GET {API}/agents answered with JSON that is not a Julep"
    ):
        no_page.run(julep(agent_id="").check_connection())
    gateway = reply(status=502, content=b"<html>bad gateway</html>", headers={"content-type": "text/html"})
    with pytest.raises(TransportError):  # a gateway's page: the API may be back at the next try
        Replay(lambda request: gateway).run(julep().status(RunRef(platform="julep", run_id=RUN)))


def test_the_async_executor_drives_the_same_submit():
    platform = julep()
    replay = Replay([reply(json=page()), reply(lost=True), reply(json=page(mine("queued")))])
    ref = asyncio.run(replay.arun(submit(platform, {"topic": "t"}), platform=platform))
    assert ref.run_id == RUN and [r.method for r in replay.requests] == ["GET", "POST", "GET"]
    assert json.loads(replay.requests[1].content)["metadata"][RUN_KEY] == ORIGIN.run_name
