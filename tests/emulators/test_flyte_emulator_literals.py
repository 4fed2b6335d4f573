"""The Flyte emulator's literals: its own codec reads and writes the proto3 JSON the protocol shows, refuses a
literal of another type than declared, and agrees with the client's codec (each written apart from the other)."""

from __future__ import annotations

import base64

import httpx
import msgpack
import pytest

from airflow_remote_tasks.emulators.flyte.literals import LiteralRefused, read, write
from airflow_remote_tasks.emulators.flyte.tasks import optional, simple
from airflow_remote_tasks.platforms.flyte import literals as client_literals

STRING, INTEGER, FLOAT, BOOLEAN, STRUCT = (
    simple(n) for n in ("STRING", "INTEGER", "FLOAT", "BOOLEAN", "STRUCT")
)
OPTIONAL_INT = optional(INTEGER, "int")
NONE_TYPE = {"simple": "NONE", "structure": {"tag": "none"}}


def _primitive(**value: object) -> dict[str, object]:
    return {"scalar": {"primitive": value}}


@pytest.mark.parametrize(
    ("literal", "literal_type", "value"),
    [
        (_primitive(stringValue="world"), STRING, "world"),
        (_primitive(integer="3"), INTEGER, 3),
        (_primitive(integer=3), INTEGER, 3),  # a bare number is accepted on parse
        (_primitive(floatValue=1.5), FLOAT, 1.5),
        (_primitive(boolean=True), BOOLEAN, True),
        ({"collection": {"literals": [_primitive(integer="1")]}}, {"collectionType": INTEGER}, [1]),
        ({"map": {"literals": {"x": _primitive(integer="1")}}}, {"mapValueType": INTEGER}, {"x": 1}),
        (
            {"scalar": {"union": {"value": {"scalar": {"noneType": {}}}, "type": NONE_TYPE}}},
            OPTIONAL_INT,
            None,
        ),
        (
            {
                "scalar": {
                    "union": {
                        "value": _primitive(integer="5"),
                        "type": {"simple": "INTEGER", "structure": {"tag": "int"}},
                    }
                }
            },
            OPTIONAL_INT,
            5,
        ),
        (
            {
                "scalar": {
                    "binary": {
                        "value": base64.b64encode(msgpack.packb({"lr": 0.5})).decode(),
                        "tag": "msgpack",
                    }
                }
            },
            STRUCT,
            {"lr": 0.5},
        ),
    ],
)
def test_the_protocols_literals_read_as_their_values_and_are_written_back(literal, literal_type, value):
    assert read(literal, literal_type, "x") == value
    assert read(write(value, literal_type), literal_type, "x") == value
    if literal_type is not STRUCT and literal != _primitive(
        integer=3
    ):  # msgpack bytes may differ; "3" is canonical
        assert write(value, literal_type) == literal


@pytest.mark.parametrize(
    ("literal", "literal_type", "said"),
    [
        (_primitive(integer="3"), FLOAT, "expected primitive float_value, got primitive integer"),
        (_primitive(stringValue="3"), INTEGER, "expected primitive integer, got primitive string_value"),
        (
            _primitive(integer="3"),
            {"collectionType": INTEGER},
            "expected a collection, got primitive integer",
        ),
        ({"scalar": {"binary": {"value": "e30=", "tag": "json"}}}, STRUCT, "got binary 'json'"),
        (_primitive(integer="5"), OPTIONAL_INT, "expected a union"),
        (
            {"scalar": {"union": {"value": _primitive(integer="5"), "type": {"simple": "INTEGER"}}}},
            OPTIONAL_INT,
            "the union's type (untagged) is none of its declared variants",
        ),
    ],
)
def test_a_literal_of_another_type_than_declared_is_refused(literal, literal_type, said):
    with pytest.raises(LiteralRefused, match="input 'x'") as refused:
        read(literal, literal_type, "x")
    assert said in str(refused.value)


@pytest.mark.parametrize(
    ("value", "literal_type"),
    [
        ("world", STRING),
        (-7, INTEGER),
        (2.5, FLOAT),
        (False, BOOLEAN),
        ({"config": {"lr": 0.5, "layers": [8]}, "name": "x"}, STRUCT),
        ([1.0, 2.0], {"collectionType": FLOAT}),
        ({"a": 1.0}, {"mapValueType": FLOAT}),
        (None, optional({"collectionType": STRING}, "list")),
        (["a", "b"], optional({"collectionType": STRING}, "list")),
    ],
)
def test_the_client_and_the_emulator_codecs_agree(value, literal_type):
    assert read(client_literals.encode(value, literal_type, "x"), literal_type, "x") == value
    assert client_literals.decode(write(value, literal_type)) == value


def test_create_run_with_an_input_of_another_type_is_refused_and_starts_nothing(flyte):
    request = {
        "projectId": {"organization": "", "name": "flytesnacks", "domain": "development"},
        "taskId": {
            "org": "",
            "project": "flytesnacks",
            "domain": "development",
            "name": "demo.say_hello",
            "version": "v2",
        },
        "inputs": {
            "literals": [
                {"name": "name", "value": _primitive(stringValue="w")},
                {"name": "n", "value": _primitive(floatValue=2.0)},
            ]
        },
    }
    answer = httpx.post(f"{flyte.url}/flyteidl2.workflow.RunService/CreateRun", json=request)
    assert answer.status_code == 400, answer.text
    assert answer.json()["code"] == "invalid_argument"
    assert "input 'n': expected primitive integer, got primitive float_value" in answer.json()["message"]
    assert flyte.runs == []
