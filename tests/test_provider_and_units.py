"""Registration, the connection form, the CLI, and the literal codec."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta, timezone
from importlib.metadata import entry_points

import httpx
import pytest

from airflow_remote_tasks.platforms.flyte import literals
from airflow_remote_tasks.platforms.flyte.config import decode_api_key, normalize_endpoint, org_from_host


def test_entry_point_and_provider_info():
    [entry] = [
        e for e in entry_points(group="apache_airflow_provider") if e.value.startswith("airflow_remote")
    ]
    info = entry.load()()
    assert info["package-name"] == "airflow-provider-remote-tasks"
    flyte, julep = info["connection-types"]
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
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_importing_the_package_is_light():
    code = (
        "import sys, airflow_remote_tasks; print(sorted(m for m in sys.modules if m.startswith('airflow')))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip() == "['airflow_remote_tasks', 'airflow_remote_tasks.version']"


def test_cli_serves_the_emulator_and_prints_its_url():
    process = subprocess.Popen(
        [sys.executable, "-m", "airflow_remote_tasks.cli", "emulator", "flyte", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        url = process.stdout.readline().strip()  # type: ignore[union-attr]
        assert url.startswith("http://127.0.0.1:")
        assert httpx.get(f"{url}/healthz").json() == {"status": "ok"}
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
