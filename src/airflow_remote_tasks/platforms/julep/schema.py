"""A Julep task's ``input_schema`` (JSON Schema): the interface it describes, and checking inputs against it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import jsonschema

from airflow_remote_tasks.core.models import InputSpec


def render_type(schema: Any) -> str:
    """A short readable type: ``string``, ``array of integer``, ``string | null``, ``one of 'a', 'b'``."""
    if not isinstance(schema, Mapping):
        return "any"
    if "enum" in schema:
        return "one of " + ", ".join(json.dumps(v) for v in schema["enum"])
    kind = schema.get("type")
    if isinstance(kind, list):
        return " | ".join(str(k) for k in kind)
    if kind == "array" and isinstance(schema.get("items"), Mapping):
        return f"array of {render_type(schema['items'])}"
    for combinator in ("anyOf", "oneOf"):
        if isinstance(schema.get(combinator), list):
            return " | ".join(render_type(option) for option in schema[combinator])
    return str(kind or "any")


def inputs_of_schema(schema: Any) -> list[InputSpec]:
    if not isinstance(schema, Mapping):
        return []
    properties = schema.get("properties") or {}
    required = set(schema.get("required") or [])
    return [
        InputSpec(
            name=name,
            type=render_type(prop),
            required=name in required and "default" not in prop,
            has_default=isinstance(prop, Mapping) and "default" in prop,
            default=prop.get("default") if isinstance(prop, Mapping) else None,
            wire_type=prop,
        )
        for name, prop in properties.items()
    ]


def check_inputs(schema: Any, inputs: Mapping[str, Any]) -> tuple[list[str], dict[str, Any]]:
    """Problems with ``inputs`` (empty when they fit) and the inputs with schema defaults filled in."""
    try:
        filled: dict[str, Any] = json.loads(json.dumps(dict(inputs)))
    except (TypeError, ValueError) as error:
        return [f"inputs must be JSON values (str, int, float, bool, None, list, dict): {error}"], {}
    if not isinstance(schema, Mapping) or not schema:
        return [], filled
    for spec in inputs_of_schema(schema):
        if spec.has_default and spec.name not in filled:
            filled[spec.name] = spec.default
    problems = []
    properties = schema.get("properties")
    if isinstance(properties, Mapping) and properties and schema.get("additionalProperties") is None:
        # JSON Schema would let an unlisted input through; it is almost always a typo, so say so.
        problems += [
            f"unknown input {name!r} (the schema lists {', '.join(properties)})"
            for name in filled
            if name not in properties
        ]
    validator_class = jsonschema.validators.validator_for(schema)
    try:
        validator_class.check_schema(schema)
    except jsonschema.SchemaError as error:
        return [f"the task's input_schema is not valid JSON Schema: {error.message}"], filled
    validator = validator_class(schema, format_checker=validator_class.FORMAT_CHECKER)
    for problem in sorted(validator.iter_errors(filled), key=lambda e: [str(p) for p in e.absolute_path]):
        where = ".".join(str(part) for part in problem.absolute_path)
        problems.append(f"{where}: {problem.message}" if where else problem.message)
    return problems, filled
