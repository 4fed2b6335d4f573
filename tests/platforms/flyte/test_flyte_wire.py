"""The Flyte client's requests against flyteidl2's own message definitions, and the brief's examples."""

from __future__ import annotations

import json
from pathlib import Path

import flyteidl2.cluster.service_pb2
import flyteidl2.dataproxy.dataproxy_service_pb2
import flyteidl2.task.task_service_pb2
import flyteidl2.workflow.run_service_pb2  # noqa: F401
import httpx
import pytest
from google.protobuf import descriptor_pool, json_format, message_factory

from airflow_remote_tasks.core.executors import execute
from airflow_remote_tasks.core.models import RunOrigin, RunStatus, run_name
from airflow_remote_tasks.core.operation import HttpResponse
from airflow_remote_tasks.core.phases import Phase
from airflow_remote_tasks.platforms.flyte import connect
from airflow_remote_tasks.platforms.flyte.config import FlyteConfig
from airflow_remote_tasks.platforms.flyte.platform import FlytePlatform
from airflow_remote_tasks.platforms.flyte.runs import parse_action_status
from support import FIXTURES

EXAMPLES = FIXTURES / "flyte"


def strict_parse(method_path: str, body: bytes, *, stream: bool = False) -> object:
    """Parse a request body as the input message of ``package.Service/Method``; unknown fields fail."""
    service, method = method_path.strip("/").split("/")
    descriptor = descriptor_pool.Default().FindServiceByName(service).FindMethodByName(method).input_type
    message = message_factory.GetMessageClass(descriptor)()
    if stream:
        messages, _ = connect.split_envelopes(body)
        [payload] = messages
        body = json.dumps(payload).encode()
    json_format.Parse(body, message, ignore_unknown_fields=False)
    return message


def recording_client(sent: list[httpx.Request]) -> httpx.Client:
    """A client whose every request is kept, to be driven by the real sync executor."""
    return httpx.Client(event_hooks={"request": [sent.append]})


def test_every_request_parses_strictly_as_its_flyteidl2_message(flyte):
    flyte.emulator.state.omit_run_error_info = True
    platform = FlytePlatform(FlyteConfig(endpoint=flyte.url, org="my-org"))
    uploading = FlytePlatform(FlyteConfig(endpoint=flyte.url, org="my-org"), upload_inputs=True)
    sent: list[httpx.Request] = []
    with recording_client(sent) as client:

        def record(operation):
            return execute(operation, client)

        interface = record(platform.resolve_task("demo.describe", "latest"))
        wire = platform.prepare_inputs(interface, {"config": {"a": [1, 2]}, "weights": {"x": 1.0}})
        ref = record(
            platform.submit(
                interface,
                wire,
                origin=RunOrigin(dag_id="d", run_id="r", task_id="k"),
                labels={"team": "ml"},
                env={"A": "1"},
            )
        )
        record(
            uploading.submit(
                interface, wire, origin=RunOrigin(dag_id="d", run_id="r", task_id="k2"), labels={}, env={}
            )
        )
        pinned = record(platform.resolve_task("demo.say_hello", "v1"))
        assert pinned.version == "v1"
        status = record(platform.status(ref))
        record(platform.find_run(ref.run_id))
        record(platform.check_connection())
        record(platform.abort(ref, "test"))
        record(platform.logs(ref, status, 5))
        failed = record(
            platform.submit(
                record(platform.resolve_task("demo.fail", "v1")),
                {"literals": []},
                origin=RunOrigin(dag_id="d", run_id="r", task_id="f"),
                labels={},
                env={},
            )
        )
        import time

        time.sleep(0.7)
        assert record(platform.status(failed)).message == "RuntimeError: the task failed on purpose"
        record(platform.outputs(failed))
    methods = set()
    for request in sent:
        path = request.url.path
        stream = request.headers["content-type"] == "application/connect+json"
        strict_parse(path, request.content, stream=stream)
        methods.add(path.rsplit("/", 1)[1])
    assert {
        "ListTasks",
        "GetTaskDetails",
        "CreateRun",
        "UploadInputs",
        "SelectCluster",
        "GetRunDetails",
        "GetActionDetails",
        "AbortRun",
        "TailLogs",
        "GetActionData",
    } <= methods


def test_negative_example_is_rejected_by_the_strict_parse():
    body = (EXAMPLES / "NEGATIVE_ListTasksRequest_org_and_projectId.json").read_bytes()
    with pytest.raises(json_format.ParseError):
        strict_parse("/flyteidl2.task.TaskService/ListTasks", body)


@pytest.mark.parametrize(
    ("example", "phase", "message"),
    [
        ("GetRunDetailsResponse_running.json", Phase.RUNNING, ""),
        ("GetRunDetailsResponse_succeeded.json", Phase.SUCCEEDED, ""),
        ("GetRunDetailsResponse_failed.json", Phase.FAILED, "ValueError: n must be positive"),
    ],
)
def test_run_details_examples_parse(example, phase, message):
    body = json.loads((EXAMPLES / example).read_text())
    status: RunStatus = parse_action_status(body["details"]["action"])
    assert status.phase is phase
    assert message in status.message


def test_run_names_are_dns_1035_and_deterministic():
    import re

    for key in ["dag|manual__2026-01-01T00:00:00+00:00|task|-1|0", "ü/../\x00" * 50, ""]:
        name = run_name(key)
        assert re.fullmatch(r"[a-z]([-a-z0-9]*[a-z0-9])?", name) and len(name) <= 30
        assert name == run_name(key)
    assert run_name("a|0") != run_name("a|1")


def test_non_connect_error_pages_are_transport_errors():
    from airflow_remote_tasks.core.errors import TransportError

    page = HttpResponse(502, {"content-type": "text/html"}, b"<html>Bad gateway</html>")
    error = connect.error_from_response("x.Y/Z", page)
    assert isinstance(error, TransportError)
    assert "is not a Flyte API answer" in str(error) and "Bad gateway" in str(error)


def test_flyte_fixtures_are_what_the_script_writes():
    import subprocess
    import sys

    from support import ROOT

    check = [sys.executable, str(ROOT / "scripts" / "make_flyte_fixtures.py"), "--check"]
    subprocess.run(check, check=True, capture_output=True, text=True)
    assert len(list(Path(EXAMPLES).glob("*.json"))) == 4
