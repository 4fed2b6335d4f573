"""Registration, the connection form, the CLI, and the literal codec."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from importlib.metadata import entry_points

import httpx
import pytest

from airflow_remote_tasks.hooks.connection import with_port
from airflow_remote_tasks.platforms.flyte import literals
from airflow_remote_tasks.platforms.flyte.config import decode_api_key, normalize_endpoint, org_from_host


def test_entry_point_and_provider_info():
    [entry] = [
        e for e in entry_points(group="apache_airflow_provider") if e.value.startswith("airflow_remote")
    ]
    info = entry.load()()
    assert info["package-name"] == "airflow-provider-remote-tasks"
    types = {c["connection-type"]: c for c in info["connection-types"]}
    assert set(types) == {
        "remote_tasks_flyte",
        "remote_tasks_julep",
        "remote_tasks_labelbox",
        "remote_tasks_avala",
    }
    flyte, julep = types["remote_tasks_flyte"], types["remote_tasks_julep"]
    assert flyte["connection-type"] == "remote_tasks_flyte"
    assert flyte["conn-fields"]["client_secret"]["schema"]["format"] == "password"
    assert julep["connection-type"] == "remote_tasks_julep"
    assert julep["ui-field-behaviour"]["relabeling"]["password"] == "API key"


def test_airflow_sees_the_declarative_connection_form(airflow_db):
    code = (
        "import sys\n"
        "from airflow.providers_manager import ProvidersManager\n"
        "pm = ProvidersManager()\n"
        "assert 'airflow-provider-remote-tasks' in pm.providers\n"
        "fields = pm.connection_form_widgets\n"
        "assert 'extra__remote_tasks_flyte__client_secret' in fields, sorted(fields)\n"
        "behaviour = pm.field_behaviours['remote_tasks_flyte']\n"
        "assert behaviour['relabeling']['password'] == 'API key'\n"
        "assert 'extra__remote_tasks_julep__agent_id' in fields, sorted(fields)\n"
        "assert pm.hooks['remote_tasks_julep'].hook_class_name.endswith('JulepHook')\n"
        "assert pm.field_behaviours['remote_tasks_labelbox']['relabeling']['host'] == 'GraphQL endpoint'\n"
        "assert 'extra__remote_tasks_avala__status_map' in fields, sorted(fields)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_importing_the_package_is_light():
    code = (
        "import sys, airflow_remote_tasks; print(sorted(m for m in sys.modules if m.startswith('airflow')))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip() == "['airflow_remote_tasks', 'airflow_remote_tasks.version']"


@pytest.mark.parametrize(
    ("platform", "args", "probe", "says"),
    [
        ("flyte", [], "", "no authentication"),
        ("julep", [], "/agents", "accepts any API key"),
        ("julep", ["--api-key", "only-THIS-key"], "/agents", "requires API key 'only-THIS-key'"),
        ("labelbox", [], "", "project ckproj0000000000000000001, dataset ckds000000000000000000001"),
        (
            "avala",
            ["--api-key", "avk_only"],
            "",
            "project proj-001, dataset ds-001; requires API key 'avk_only'",
        ),
    ],
)
def test_cli_serves_the_emulator_and_prints_its_url(platform, args, probe, says):
    process = subprocess.Popen(
        [sys.executable, "-m", "airflow_remote_tasks.cli", "emulator", platform, "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = process.stdout.readline().strip()  # type: ignore[union-attr]
        assert url.startswith("http://127.0.0.1:")
        assert says in process.stderr.readline()  # type: ignore[union-attr]
        root = url.removesuffix("/api").removesuffix("/graphql").removesuffix("/api/v1")
        assert httpx.get(f"{root}/healthz").json() == {"status": "ok"}
        if probe:  # the printed URL is the API's base URL, and the key it named opens it
            key = args[1] if args else "anything-at-all"
            answer = httpx.get(url + probe, headers={"Authorization": f"Bearer {key}"})
            assert answer.status_code == 200 and answer.json()["items"]
            if args:
                assert httpx.get(url + probe, headers={"Authorization": "Bearer other"}).status_code == 403
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_api_key_is_split_from_the_right():
    import base64

    key = base64.b64encode(b"http://localhost:30080:cid:sec:acme").decode()
    assert decode_api_key(key) == ("http://localhost:30080", "cid", "sec", "acme")
    key = base64.b64encode(b"localhost:30080:cid:secret:None").decode()
    assert decode_api_key(key) == ("localhost:30080", "cid", "secret", "")
    with pytest.raises(Exception, match="not valid base64"):
        decode_api_key("!!!")


def test_endpoints_and_orgs():
    assert normalize_endpoint("dns:///acme.hosted.unionai.cloud") == "https://acme.hosted.unionai.cloud"
    assert normalize_endpoint("localhost:30080", insecure=True) == "http://localhost:30080"
    assert org_from_host("https://acme.hosted.unionai.cloud") == "acme"
    assert org_from_host("http://localhost:30080") == ""
    assert org_from_host("http://127.0.0.1:8080") == ""


@pytest.mark.parametrize(
    ("host", "port", "expected"),
    [
        ("http://127.0.0.1/api", 8090, "http://127.0.0.1:8090/api"),
        ("https://acme.hosted.unionai.cloud", 443, "https://acme.hosted.unionai.cloud:443"),
        ("http://127.0.0.1:9000/api", 8090, "http://127.0.0.1:9000/api"),  # the URL's own port wins
        ("localhost", 30080, "localhost:30080"),
        ("localhost:1", 30080, "localhost:1"),
        ("https://example.com", None, "https://example.com"),
        ("", 8080, ""),
    ],
)
def test_the_port_field_fills_a_host_without_one(host, port, expected):
    assert with_port(host, port) == expected


INT, FLOAT, STR = {"simple": "INTEGER"}, {"simple": "FLOAT"}, {"simple": "STRING"}
OPTIONAL_INT = {
    "unionType": {
        "variants": [
            {"simple": "INTEGER", "structure": {"tag": "int"}},
            {"simple": "NONE", "structure": {"tag": "none"}},
        ]
    }
}


@pytest.mark.parametrize(
    ("value", "literal_type"),
    [
        (3, INT),
        (-7, INT),
        (1.5, FLOAT),
        ("x", STR),
        (True, {"simple": "BOOLEAN"}),
        (datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc), {"simple": "DATETIME"}),
        (timedelta(seconds=90), {"simple": "DURATION"}),
        ([1, 2], {"collectionType": INT}),
        ({"a": 1.0}, {"mapValueType": FLOAT}),
        ({"nested": {"k": [1, "two"]}}, {"simple": "STRUCT"}),
        (None, OPTIONAL_INT),
        (5, OPTIONAL_INT),
        ("s3://bucket/key", {"blob": {"dimensionality": "SINGLE"}}),
    ],
)
def test_literals_round_trip(value, literal_type):
    encoded = literals.encode(value, literal_type, "x")
    decoded = literals.decode(encoded)
    assert decoded == value


def test_literal_wire_shapes_follow_proto3_json():
    assert literals.encode(3, INT, "n") == {"scalar": {"primitive": {"integer": "3"}}}
    assert literals.encode("42", INT, "n") == {
        "scalar": {"primitive": {"integer": "42"}}
    }  # rendered templates
    union = literals.encode(5, OPTIONAL_INT, "n")["scalar"]["union"]
    assert union["type"]["structure"]["tag"] == "int"
    assert literals.encode(timedelta(minutes=1, milliseconds=5), {"simple": "DURATION"}, "d") == {
        "scalar": {"primitive": {"duration": "60.005s"}}
    }


@pytest.mark.parametrize(
    ("value", "literal_type", "message"),
    [
        (True, INT, "n: expected int, got bool True"),
        ("abc", FLOAT, "n: expected float, got str 'abc'"),
        ([1, "x"], {"collectionType": INT}, "n[1]: expected int, got str 'x'"),
        ("z", {"enumType": {"values": ["a", "b"]}}, "n: expected one of 'a', 'b'"),
        ({"k": object()}, {"simple": "STRUCT"}, "n: expected dict of JSON-like values"),
        ("x", OPTIONAL_INT, "n: expected Optional[int], got str 'x'"),
    ],
)
def test_literal_errors_name_the_place_and_the_type(value, literal_type, message):
    with pytest.raises(literals.LiteralError) as caught:
        literals.encode(value, literal_type, "n")
    assert message in str(caught.value)


def test_emulator_expressions_are_julep_like_and_closed():
    from airflow_remote_tasks.emulators.julep.expressions import ExpressionError, evaluate, render

    context = {"_": {"n": 2}, "steps": [{"input": {"topic": "tea"}, "output": None}]}
    assert evaluate("f'{steps[0].input.topic}!' * _.n", context) == "tea!tea!"
    assert render({"a": "$ len(steps)", "b": "plain", "c": ["$ _.n + 1"]}, context) == {
        "a": 1,
        "b": "plain",
        "c": [3],
    }
    for hostile in (
        "__import__('os')",
        "_.__class__",
        "(lambda: 1)()",
        "open('/etc/passwd')",
        "'{0.__class__}'.format(_)",
    ):
        with pytest.raises(ExpressionError):
            evaluate(hostile, context)


def test_julep_error_bodies_become_clear_errors():
    from pydantic import SecretStr

    from airflow_remote_tasks.core.errors import (
        ApiError,
        AuthenticationError,
        TransportError,
        UnexpectedAnswerError,
    )
    from airflow_remote_tasks.core.operation import HttpResponse
    from airflow_remote_tasks.platforms.julep.config import JulepConfig
    from airflow_remote_tasks.platforms.julep.rest import error_from_response

    config = JulepConfig(base_url="https://api.julep.ai/api", api_key=SecretStr("k"))

    def answer(status: int, body: object, content_type: str = "application/json") -> Exception:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        return error_from_response(
            config, "GET", "tasks/x", HttpResponse(status, {"content-type": content_type}, raw)
        )

    refused = answer(403, {"detail": "Could not validate API KEY"})
    assert isinstance(refused, AuthenticationError) and "check the connection's API key" in str(refused)
    quota = answer(403, {"detail": "Execution count exceeded the free tier limit"})
    assert type(quota) is ApiError and "free tier" in str(quota)
    invalid = answer(
        422,
        {
            "error": {
                "message": "Validation error",
                "details": [{"loc": ["body", "input"], "msg": "Field required"}],
            }
        },
    )
    assert "Validation error (body.input: Field required)" in str(invalid)
    assert answer(503, {"detail": "busy"}).retryable  # type: ignore[attr-defined]
    for foreign, kind in (
        (answer(404, {"detail": "Not Found"}), UnexpectedAnswerError),  # no such route: a wrong base URL
        (answer(502, b"<html>bad gateway</html>", "text/html"), TransportError),
    ):
        assert isinstance(foreign, kind) and "Check the connection's base URL" in str(foreign)


def test_on_paused_must_be_a_known_policy():
    from airflow_remote_tasks import RemoteRunSensor, RemoteTaskOperator

    with pytest.raises(ValueError, match="on_paused must be 'wait', 'fail' or 'succeed', not 'ignore'"):
        RemoteTaskOperator(task_id="t", conn_id="c", task="x", on_paused="ignore")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="on_paused must be"):
        RemoteRunSensor(task_id="s", conn_id="c", run_id="r", on_paused="later")  # type: ignore[arg-type]


def test_provider_info_is_valid_for_airflow_and_declares_the_settings_it_reads():
    import json
    from pathlib import Path

    import jsonschema
    from airflow.providers_manager import ProvidersManager

    import airflow
    from airflow_remote_tasks.platforms.labelbox.labels import DEFAULT_MIN_POLL, SETTING
    from airflow_remote_tasks.provider_info import provider_info

    schema = json.loads((Path(airflow.__file__).parent / "provider_info.schema.json").read_text())
    jsonschema.validate(provider_info(), schema)
    configs = dict(ProvidersManager().provider_configs)
    option = configs["airflow-provider-remote-tasks"][SETTING[0]]["options"][SETTING[1]]
    assert float(option["default"]) == DEFAULT_MIN_POLL
