"""Flyte's operations driven with canned Connect answers through the real executors: what is sent, what each
answer means, and what a lost answer does. No server, milliseconds each."""

from __future__ import annotations

import asyncio
import json
import struct
from typing import Any

import pytest

from airflow_remote_tasks.core.errors import (
    AuthenticationError,
    ConfigurationError,
    InvalidInputsError,
    NotFoundError,
    RemoteTaskError,
)
from airflow_remote_tasks.core.models import RunOrigin, RunRef, TaskInterface
from airflow_remote_tasks.core.phases import Phase
from airflow_remote_tasks.core.replay import Replay, Reply, reply
from airflow_remote_tasks.platforms.flyte.config import FlyteConfig
from airflow_remote_tasks.platforms.flyte.platform import FlytePlatform

API = "https://acme.flyte.example"
RUNS = "/flyteidl2.workflow.RunService"
ORIGIN = RunOrigin(dag_id="d", run_id="manual__1", task_id="t")
SCOPE = {"org": "acme", "project": "ml", "domain": "development"}
STRING = {"simple": "STRING"}
INTEGER = {"simple": "INTEGER"}


def platform(**config: Any) -> FlytePlatform:
    upload = config.pop("upload_inputs", False)
    return FlytePlatform(FlyteConfig(endpoint=API, org="acme", project="ml", **config), upload_inputs=upload)


def connect_error(code: str, message: str = "", status: int = 400) -> Reply:
    return reply(status=status, json={"code": code, "message": message})


def integer(value: int) -> dict[str, Any]:
    return {"scalar": {"primitive": {"integer": str(value)}}}


def text(value: str) -> dict[str, Any]:
    return {"scalar": {"primitive": {"stringValue": value}}}


def task_details(outputs: tuple[str, ...] = ("o0",)) -> dict[str, Any]:
    return {
        "details": {
            "spec": {
                "taskTemplate": {
                    "interface": {
                        "inputs": {
                            "variables": [
                                {"key": "name", "value": {"type": STRING}},
                                {"key": "n", "value": {"type": INTEGER}},
                            ]
                        },
                        "outputs": {"variables": [{"key": o, "value": {"type": STRING}} for o in outputs]},
                    }
                },
                "defaultInputs": [{"name": "n", "parameter": {"default": integer(1)}}],
            }
        }
    }


def interface(flyte: FlytePlatform | None = None) -> TaskInterface:
    replay = Replay([reply(json={"tasks": [{"taskId": {"version": "v7"}}]}), reply(json=task_details())])
    return replay.run((flyte or platform()).resolve_task("demo.say_hello", "latest"))


def action(phase: object, **extra: Any) -> dict[str, Any]:
    return {"id": {"run": {"name": "af-1"}, "name": "a0"}, "status": {"phase": phase, "attempts": 1}, **extra}


def run_ref(name: str = "af-1") -> RunRef:
    return RunRef(platform="flyte", run_id=name, scope={**SCOPE, "action": "a0"})


def path(request: Any) -> str:
    return str(request.url.path)


# -- tasks and inputs --------------------------------------------------------------------------------------


def test_latest_is_the_newest_deployed_version_and_its_interface_is_read():
    replay = Replay([reply(json={"tasks": [{"taskId": {"version": "v7"}}]}), reply(json=task_details())])
    found = replay.run(platform().resolve_task("demo.say_hello", "latest"))
    listed, details = replay.bodies
    assert listed["request"]["filters"] == [
        {"function": "EQUAL", "field": "name", "values": ["demo.say_hello"]}
    ]
    assert listed["projectId"] == {"organization": "acme", "name": "ml", "domain": "development"}
    assert details["taskId"] == {**SCOPE, "name": "demo.say_hello", "version": "v7"}
    assert (found.version, [i.name for i in found.inputs], found.outputs) == ("v7", ["name", "n"], ["o0"])
    assert [(i.required, i.has_default) for i in found.inputs] == [(True, False), (False, True)]


def test_a_task_nobody_deployed_and_a_version_that_does_not_exist_are_named():
    with pytest.raises(NotFoundError, match=r"No Flyte task named 'demo\.nope' in project 'ml'"):
        Replay([reply(json={})]).run(platform().resolve_task("demo.nope", "latest"))
    with pytest.raises(NotFoundError, match="version 'v9' does not exist"):
        Replay([connect_error("not_found", status=404)]).run(platform().resolve_task("demo.say_hello", "v9"))


def test_a_task_definition_is_refused_before_any_call():
    with pytest.raises(ConfigurationError, match="flyte deploy"):
        Replay([]).run(platform().resolve_task({"image": "x"}, "latest"))


def test_inputs_are_encoded_with_defaults_and_every_problem_is_listed():
    found = interface()
    assert platform().prepare_inputs(found, {"name": "Ada"}) == {
        "literals": [{"name": "name", "value": text("Ada")}, {"name": "n", "value": integer(1)}]
    }
    with pytest.raises(InvalidInputsError) as raised:
        platform().prepare_inputs(found, {"n": "many", "extra": 1})
    assert str(raised.value) == (
        "Inputs for Flyte task 'demo.say_hello' (version v7) do not match its interface; nothing was submitted.\n"
        "- unknown input 'extra'\n"
        "- missing input 'name'\n"
        "- n: expected int, got str 'many'\n"
        "Expected inputs:\n"
        "  name: str\n"
        "  n: int (default 1)"
    )


# -- submit ------------------------------------------------------------------------------------------------


def test_submit_sends_one_create_run_named_after_the_task_instance():
    flyte = platform()
    replay = Replay([reply(json={"run": {"action": {"id": {"name": "a0"}}}})])
    inputs = flyte.prepare_inputs(interface(), {"name": "Ada", "n": 2})
    ref = replay.run(flyte.submit(interface(), inputs, origin=ORIGIN, labels={"team": "ml"}, env={"A": "1"}))
    [sent] = replay.requests
    body = json.loads(sent.content)
    assert path(sent) == f"{RUNS}/CreateRun"
    assert body["runId"] == {**SCOPE, "name": "af-c605c4b2268746785d62"}  # an earlier release's name for it
    assert body["runSpec"] == {
        "labels": {"values": {"team": "ml"}},
        "envs": {"values": [{"key": "A", "value": "1"}]},
    }
    assert body["inputs"] == inputs and "offloadedInputData" not in body
    assert (ref.run_id, ref.scope) == (ORIGIN.run_name, {**SCOPE, "action": "a0"})
    assert ref.url == f"{API}/v2/domain/development/project/ml/runs/{ref.run_id}"


def test_submit_with_upload_inputs_offloads_them_first():
    flyte = platform(upload_inputs=True)
    offloaded = {"uri": "s3://bucket/inputs.pb", "inputsHash": "h"}
    replay = Replay([reply(json={}), reply(json={"offloadedInputData": offloaded}), reply(json={})])
    inputs = {"literals": [{"name": "name", "value": text("Ada")}]}
    replay.run(flyte.submit(interface(), inputs, origin=ORIGIN, labels={}, env={}))
    assert [path(r).rsplit("/", 1)[1] for r in replay.requests] == [
        "SelectCluster",
        "UploadInputs",
        "CreateRun",
    ]
    select, upload, create = replay.bodies
    assert select["operation"] == "OPERATION_UPLOAD_INPUTS"
    assert upload["inputs"] == inputs and upload["runId"] == create["runId"]
    assert create["offloadedInputData"] == offloaded and "inputs" not in create and "runSpec" not in create


def test_a_run_that_exists_already_is_attached_to():
    replay = Replay([connect_error("already_exists", "run exists", status=409)])
    ref = replay.run(platform().submit(interface(), {"literals": []}, origin=ORIGIN, labels={}, env={}))
    assert (ref.run_id, ref.scope["action"], len(replay.requests)) == (ORIGIN.run_name, "a0", 1)


def test_a_lost_create_run_answer_is_asked_again_by_name_and_attaches():
    # The server created the run; its answer was lost. The same name sent again is AlreadyExists: one run.
    replay = Replay([reply(lost=True), connect_error("already_exists", status=409)])
    ref = replay.run(platform().submit(interface(), {"literals": []}, origin=ORIGIN, labels={}, env={}))
    first, second = replay.bodies
    assert first == second and first["runId"]["name"] == ref.run_id == ORIGIN.run_name


def test_a_create_run_refused_as_unavailable_is_retried_then_reported():
    replay = Replay([connect_error("unavailable", "overloaded", status=503)] * 5)
    with pytest.raises(RemoteTaskError) as raised:
        replay.run(platform().submit(interface(), {"literals": []}, origin=ORIGIN, labels={}, env={}))
    assert "CreateRun failed after 5 tries: unavailable: overloaded" in str(raised.value)
    assert len(replay.requests) == 5


# -- status ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("word", "phase"),
    [
        ("ACTION_PHASE_UNSPECIFIED", Phase.QUEUED),
        ("ACTION_PHASE_QUEUED", Phase.QUEUED),
        ("ACTION_PHASE_WAITING_FOR_RESOURCES", Phase.QUEUED),
        ("ACTION_PHASE_INITIALIZING", Phase.RUNNING),
        ("ACTION_PHASE_RUNNING", Phase.RUNNING),
        ("ACTION_PHASE_SUCCEEDED", Phase.SUCCEEDED),
        ("ACTION_PHASE_RECOVERED", Phase.SUCCEEDED),
        ("ACTION_PHASE_PAUSED", Phase.PAUSED),
        ("ACTION_PHASE_ABORTED", Phase.ABORTED),
        (4, Phase.RUNNING),  # proto3 JSON may send the enum's number
        (None, Phase.QUEUED),  # the zero value is left out
        ("ACTION_PHASE_HIBERNATING", Phase.UNKNOWN),
        (99, Phase.UNKNOWN),
    ],
)
def test_each_phase_word_maps_to_its_phase(word, phase):
    status = Replay([reply(json={"details": {"action": action(word)}})]).run(platform().status(run_ref()))
    assert status.phase is phase


def test_a_failure_reads_its_message_from_the_action_when_the_run_details_leave_it_out():
    failed = action("ACTION_PHASE_FAILED")
    with_error = action("ACTION_PHASE_FAILED", errorInfo={"message": "ValueError: no", "kind": "USER"})
    replay = Replay([reply(json={"details": {"action": failed}}), reply(json={"details": with_error})])
    status = replay.run(platform().status(run_ref()))
    assert (status.phase, status.message, status.error_kind) == (Phase.FAILED, "ValueError: no", "USER")
    assert replay.bodies[1] == {"actionId": {"run": {**SCOPE, "name": "af-1"}, "name": "a0"}}


def test_a_timeout_with_its_message_and_an_abort_with_its_reason_are_read_in_one_call():
    timed_out = action("ACTION_PHASE_TIMED_OUT", attempts=[{"errorInfo": {"message": "deadline"}}])
    aborted = action("ACTION_PHASE_ABORTED", abortInfo={"reason": "stopped by ada"})
    for body, phase, message in [
        (timed_out, Phase.TIMED_OUT, "deadline"),
        (aborted, Phase.ABORTED, "stopped by ada"),
    ]:
        status = Replay([reply(json={"details": {"action": body}})]).run(platform().status(run_ref()))
        assert (status.phase, status.message) == (phase, message)


def test_statuses_are_one_listing_per_project_and_leave_out_failures_without_a_message():
    refs = [
        run_ref("af-1"),
        run_ref("af-2"),
        RunRef(platform="flyte", run_id="af-3", scope={**SCOPE, "project": "x"}),
    ]
    running = {"action": action("ACTION_PHASE_RUNNING")}
    failed = {"action": {**action("ACTION_PHASE_FAILED"), "id": {"run": {"name": "af-2"}}}}
    other = {"action": {**action("ACTION_PHASE_SUCCEEDED"), "id": {"run": {"name": "af-3"}}}}
    replay = Replay([reply(json={"runs": [running, failed]}), reply(json={"runs": [other]})])
    found = replay.run(platform().statuses(refs))
    assert {k: v.phase for k, v in found.items()} == {"af-1": Phase.RUNNING, "af-3": Phase.SUCCEEDED}
    first, second = replay.bodies
    assert first["request"]["filters"] == [
        {"function": "VALUE_IN", "field": "run_name", "values": ["af-1", "af-2"]}
    ]
    assert (first["projectId"]["name"], second["projectId"]["name"]) == ("ml", "x")


def test_runs_in_the_same_state_in_one_listing_share_one_status():
    """Thousands of waits each hold their last status between polls: one object per state, not one per run."""
    refs = [run_ref(f"af-{i}") for i in range(4)]

    def listed(name: str, phase: str, **extra: Any) -> dict[str, Any]:
        return {"action": {**action(phase, **extra), "id": {"run": {"name": name}}}}

    runs = [
        listed("af-0", "ACTION_PHASE_RUNNING"),
        listed("af-1", "ACTION_PHASE_RUNNING"),
        listed("af-2", "ACTION_PHASE_ABORTED", abortInfo={"reason": "stopped by ada"}),
        listed("af-3", "ACTION_PHASE_ABORTED", abortInfo={"reason": "stopped by bob"}),
    ]
    found = Replay([reply(json={"runs": runs})]).run(platform().statuses(refs))
    assert found["af-0"] is found["af-1"]
    assert (found["af-2"].message, found["af-3"].message) == ("stopped by ada", "stopped by bob")
    with pytest.raises(ValueError, match="frozen"):
        found["af-0"].message = "changed for every run that shares it"


def test_find_run_names_the_run_and_project_it_did_not_find():
    assert Replay([reply(json={"details": {}})]).run(platform().find_run("af-1")).run_id == "af-1"
    with pytest.raises(
        NotFoundError, match="No Flyte run named 'af-9' in project 'ml', domain 'development'"
    ):
        Replay([connect_error("not_found", status=404)]).run(platform().find_run("af-9"))


def test_the_async_executor_drives_the_same_operation():
    replay = Replay([reply(json={"details": {"action": action("ACTION_PHASE_SUCCEEDED")}})])
    assert asyncio.run(replay.arun(platform().status(run_ref()))).phase is Phase.SUCCEEDED


# -- outputs and logs --------------------------------------------------------------------------------------


def test_one_output_is_itself_and_several_are_a_dict_by_name():
    one = {"outputs": {"literals": [{"name": "o0", "value": text("hi")}]}}
    two = {"outputs": {"literals": [{"name": "a", "value": integer(1)}, {"name": "b", "value": text("x")}]}}
    replay = Replay([reply(json={}), reply(json=one), reply(json={}), reply(json=two)])
    assert replay.run(platform().outputs(run_ref())) == "hi"
    assert replay.run(platform().outputs(run_ref())) == {"a": 1, "b": "x"}
    assert [path(r).rsplit("/", 1)[1] for r in replay.requests[:2]] == ["SelectCluster", "GetActionData"]
    assert replay.bodies[0]["operation"] == "OPERATION_GET_ACTION_DATA"


def test_outputs_on_a_data_plane_elsewhere_go_there_without_credentials():
    flyte = platform(auth_mode="token", token="tok-SECRET", auth_header="authorization")
    answer = {"outputs": {"literals": [{"name": "o0", "value": text("hi")}]}}
    replay = Replay([reply(json={"clusterEndpoint": "https://dp.other.example/"}), reply(json=answer)])
    assert replay.run(flyte.outputs(run_ref()), platform=flyte) == "hi"
    select, data = replay.requests
    assert select.headers["authorization"] == "Bearer tok-SECRET"
    assert str(data.url).startswith("https://dp.other.example/") and "authorization" not in data.headers


def test_a_refusal_on_a_data_plane_elsewhere_names_the_data_plane_url_field():
    flyte = platform(auth_mode="token", token="tok-SECRET", auth_header="authorization")
    replay = Replay(
        [
            reply(json={"clusterEndpoint": "https://dp.other.example"}),
            connect_error("unauthenticated", status=401),
        ]
    )
    with pytest.raises(
        AuthenticationError, match=r"set the connection's Data plane URL to https://dp\.other\.example"
    ):
        replay.run(flyte.outputs(run_ref()), platform=flyte)


def test_the_data_plane_url_field_sends_the_credentials_there():
    flyte = platform(
        auth_mode="token",
        token="tok-SECRET",
        auth_header="authorization",
        data_plane_url="https://dp.other.example",
    )
    replay = Replay([reply(json={"clusterEndpoint": "https://dp.other.example"}), reply(json={})])
    assert replay.run(flyte.outputs(run_ref()), platform=flyte) == {}
    assert replay.requests[1].headers["authorization"] == "Bearer tok-SECRET"


CONNECT_STREAM = {"content-type": "application/connect+json"}


def envelopes(*messages: dict[str, Any], end: dict[str, Any] | None = None) -> bytes:
    framed = [(0, m) for m in messages] + ([(2, end)] if end is not None else [])
    return b"".join(
        struct.pack(">BI", f, len(p)) + p for f, p in ((f, json.dumps(m).encode()) for f, m in framed)
    )


def test_logs_are_the_last_lines_of_the_stream():
    lines = [{"message": f"line {i}\n"} for i in range(5)]
    stream = envelopes({"logs": [{"lines": lines[:3]}]}, {"logs": [{"lines": lines[3:]}]}, end={})
    replay = Replay([reply(json={}), reply(content=stream, headers=CONNECT_STREAM)])
    status = Replay(
        [reply(json={"details": {"action": action("ACTION_PHASE_FAILED", errorInfo={"message": "x"})}})]
    )
    read = status.run(platform().status(run_ref()))
    assert replay.run(platform().logs(run_ref(), read, 2)) == ["line 3", "line 4"]
    assert replay.requests[1].headers["content-type"] == "application/connect+json"


def test_no_logs_is_no_lines_and_an_error_at_the_stream_end_is_raised():
    assert (
        Replay([connect_error("not_found", status=404)]).run(platform().logs(run_ref(), _status(), 5)) == []
    )
    stream = envelopes(end={"error": {"code": "permission_denied", "message": "no"}})
    replay = Replay([reply(json={}), reply(content=stream, headers=CONNECT_STREAM)])
    with pytest.raises(AuthenticationError, match="TailLogs failed: permission_denied: no"):
        replay.run(platform().logs(run_ref(), _status(), 5))


def _status() -> Any:
    return Replay([reply(json={"details": {"action": action("ACTION_PHASE_RUNNING")}})]).run(
        platform().status(run_ref())
    )


# -- abort -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        reply(json={}),
        connect_error("not_found", status=404),
        connect_error("failed_precondition", "terminal"),
    ],
)
def test_abort_asks_once_and_a_run_gone_or_finished_is_no_error(answer):
    replay = Replay([answer])
    assert replay.run(platform().abort(run_ref(), "stopped")) is True
    assert replay.bodies == [{"runId": {**SCOPE, "name": "af-1"}, "reason": "stopped"}]


def test_an_abort_refused_for_another_reason_is_raised():
    with pytest.raises(AuthenticationError, match="AbortRun failed: permission_denied"):
        Replay([connect_error("permission_denied", status=403)]).run(platform().abort(run_ref(), "x"))
