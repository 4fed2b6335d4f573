"""Julep's OpenAPI spec holds both sides: the provider's requests and the emulator's answers.

Every exchange of real provider runs (and of the official SDK) is checked with openapi-core against
``tests/fixtures/julep/openapi-1.0.0.yaml`` (vendored; see ``tests/fixtures/README.md``), corrected only where the protocol brief (section 10) documents
that the real server and SDK differ from the spec. Each correction below names its row.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from openapi_core import OpenAPI
from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest, WerkzeugOpenAPIResponse
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request, Response

from airflow_helpers import run_dag
from support import FIXTURES

pytestmark = [pytest.mark.airflow, pytest.mark.usefixtures("airflow_db")]

SPEC = FIXTURES / "julep" / "openapi-1.0.0.yaml"
PAGINATION = ("limit", "offset", "sort_by", "direction", "metadata_filter")


def spec_as_served(base_url: str) -> dict[str, Any]:
    spec = yaml.safe_load(SPEC.read_text())
    spec["servers"] = [{"url": base_url}]
    parameters = spec["components"]["parameters"]
    schemas = spec["components"]["schemas"]
    # §10 "Pagination params: required: true (with defaults)" -> optional; the server applies defaults.
    for name in PAGINATION:
        parameters[f"Common.PaginationOptions.{name}"]["required"] = False
    # §10 "GET /executions/{id}/transitions response": {"items": [Transition, ...]}, not nested lists.
    transitions = spec["paths"]["/executions/{id}/transitions"]["get"]["responses"]["200"]
    transitions["content"]["application/json"]["schema"]["properties"]["items"]["items"] = {
        "$ref": "#/components/schemas/Executions.Transition"
    }
    # §10 "PUT /executions/{id} response": 200 with a JSON null body.
    put = spec["paths"]["/executions/{id}"]["put"]["responses"]["200"]
    put["content"]["application/json"]["schema"] = {"nullable": True, "enum": [None]}
    # §10 "status.stream query: next_token required" -> the server ignores it and the SDK does not send it.
    for parameter in spec["paths"]["/executions/{id}/status.stream"]["get"]["parameters"]:
        parameter["required"] = parameter["in"] == "path"
    # §10 "CreateTaskRequest required fields" -> only name and main; the same holds wherever the spec
    # marks a field required that has a default (steps' tools, sleep units...): the server applies it.
    schemas["Tasks.CreateTaskRequest"]["required"] = ["name", "main"]
    _drop_required_defaults(spec)
    # §2.1 and §4 (bodies as the server sends them): output, error and transition_count may be null.
    for name in ("output", "error", "transition_count"):
        schemas["Executions.Execution"]["properties"][name]["nullable"] = True
    # §3.1 and §3.3 (fields as the server and SDK model them): input_schema and metadata may be null.
    schemas["Tasks.Task"]["properties"]["input_schema"]["nullable"] = True
    schemas["Tasks.Task"]["properties"]["metadata"]["nullable"] = True
    schemas["Executions.Execution"]["properties"]["metadata"]["nullable"] = True
    # Not a disagreement: openapi-core does not apply "nullable" to the allOf beside it; inline the target.
    schemas["Executions.Transition"]["properties"]["next"] = {
        **schemas["Executions.TransitionTarget"],
        "nullable": True,
    }
    # Not a disagreement: Python's re has no Unicode property classes (\\p{L}); the length limit stays.
    del schemas["Common.identifierSafeUnicode"]["pattern"]
    return spec


def _drop_required_defaults(node: Any) -> None:
    if isinstance(node, dict):
        properties = node.get("properties")
        if isinstance(node.get("required"), list) and isinstance(properties, dict):
            required = [
                name
                for name in node["required"]
                if not (isinstance(properties.get(name), dict) and "default" in properties[name])
            ]
            if required:
                node["required"] = required
            else:
                del node["required"]  # OpenAPI 3.0 forbids an empty list
        for value in node.values():
            _drop_required_defaults(value)
    elif isinstance(node, list):
        for value in node:
            _drop_required_defaults(value)


def as_werkzeug(base: str, exchange: dict[str, Any]) -> tuple[Request, Response]:
    headers = dict(exchange["headers"])
    environ = EnvironBuilder(
        method=exchange["method"],
        base_url=base,
        path=exchange["path"],
        query_string=exchange["query"],
        headers=headers,
        data=exchange["body"],
    ).get_environ()
    request = Request(environ)
    response = Response(
        exchange["response_body"],
        status=exchange["status"],
        content_type=exchange["response_headers"].get("content-type", ""),
    )
    return request, response


def check_exchanges(julep: Any) -> dict[str, int]:
    """Validate every recorded exchange; return how many of each operation were checked."""
    openapi = OpenAPI.from_dict(spec_as_served(julep.url))
    checked: dict[str, int] = {}
    for exchange in julep.emulator.exchanges:
        request, response = as_werkzeug(julep.server.url, exchange)

        wrapped = WerkzeugOpenAPIRequest(request)
        openapi.validate_request(wrapped)
        where = f"{exchange['method']} {exchange['path']}"
        if 200 <= exchange["status"] < 300:
            if "text/event-stream" not in exchange["response_headers"].get("content-type", ""):
                openapi.validate_response(wrapped, WerkzeugOpenAPIResponse(response))
        else:
            # error bodies are the server's, not in the spec: {"detail": ...} or 422 {"error": {...}}
            body = json.loads(exchange["response_body"])
            assert "detail" in body or "error" in body, where
        key = f"{exchange['method']} {_template(exchange['path'])}"
        checked[key] = checked.get(key, 0) + 1
    return checked


def _template(path: str) -> str:
    parts = path.removeprefix("/api").split("/")
    return "/".join("{id}" if len(p) == 36 and p.count("-") == 4 else p for p in parts)


def test_provider_requests_and_emulator_answers_follow_the_spec(julep):
    assert run_dag("j_hello_deferred").state == "success"
    assert run_dag("j_fail_worker").task_state("remote") == "failed"
    assert run_dag("j_timeout_worker").task_state("remote") == "failed"
    assert run_dag("example_julep").state == "success"
    run_dag("j_bad_inputs")
    checked = check_exchanges(julep)
    for operation in (
        "GET /tasks/{id}",
        "POST /agents/{id}/tasks/{id}",
        "GET /tasks/{id}/executions",
        "POST /tasks/{id}/executions",
        "GET /executions/{id}",
        "PUT /executions/{id}",
        "GET /executions/{id}/transitions",
    ):
        assert checked.get(operation), (operation, checked)


def test_official_sdk_exchanges_follow_the_spec(julep):
    from julep import Julep

    from airflow_remote_tasks.emulators.julep import DEMO_AGENT_ID

    sdk = Julep(api_key=julep.emulator.api_key, base_url=julep.url, max_retries=0)
    task = sdk.tasks.create(agent_id=DEMO_AGENT_ID, name="t", main=[{"return": {"x": "$ 1"}}])
    execution = sdk.executions.create(task_id=task.id, input={})
    list(sdk.executions.list(task.id))
    list(sdk.agents.list())
    sdk.executions.get(execution.id)
    checked = check_exchanges(julep)
    assert checked["POST /agents/{id}/tasks"] == 1 and checked["GET /agents"] >= 1


def test_a_spec_violation_is_caught(julep):
    """The check can fail: an execution without its required fields is rejected."""
    from openapi_core.validation.response.exceptions import InvalidData

    julep.emulator.exchanges.append(
        {
            "method": "GET",
            "path": "/api/executions/0190f1c2-0000-7000-8000-0000000000e1",
            "query": "",
            "headers": {"authorization": "Bearer x"},
            "body": b"",
            "status": 200,
            "response_headers": {"content-type": "application/json"},
            "response_body": b'{"id": "0190f1c2-0000-7000-8000-0000000000e1", "status": "exploded"}',
        }
    )
    with pytest.raises(InvalidData):
        check_exchanges(julep)
