"""Task definitions as the Julep server stores them: checked as its step models would, each step marked
with its read-only kind."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import jsonschema

from airflow_remote_tasks.emulators.julep.protocol import JulepError, validation_error
from airflow_remote_tasks.emulators.julep.state import now


def task_from(body: dict[str, Any], task_id: str, existing: dict[str, Any] | None) -> dict[str, Any]:
    """The task a create, update or patch body makes (``existing``: the one it replaces).

    :raises JulepError: 422 for a body the step models refuse, 400 for an input schema that is no JSON Schema."""
    missing = [key for key in ("name", "main") if not body.get(key)]
    if missing:
        raise validation_error("Field required", ["body", missing[0]])
    if not isinstance(body["main"], list):
        raise validation_error("Input should be a valid list", ["body", "main"])
    for index, step in enumerate(body["main"]):
        # The server parses each step as a union of step models: exactly one step key must match.
        if not isinstance(step, dict) or sum(key in SERVER_STEPS for key in step) != 1:
            raise validation_error("Input should be a valid step", ["body", "main", str(index)])
    schema = body.get("input_schema")
    if schema is not None:
        try:
            jsonschema.validators.validator_for(schema).check_schema(schema)
        except jsonschema.SchemaError:
            raise JulepError(400, "Invalid input schema") from None
    stamp = now()
    task = {
        "id": task_id,
        "name": body["name"],
        "canonical_name": body.get("canonical_name"),
        "description": body.get("description", ""),
        "main": [with_kind(step) for step in body["main"]],
        "input_schema": schema,
        "tools": body.get("tools") or [],
        "inherit_tools": bool(body.get("inherit_tools", False)),
        "metadata": body.get("metadata"),
        "created_at": existing["created_at"] if existing else stamp,
        "updated_at": stamp,
    }
    # The server leaves unset optional names out (null is not a valid canonical name).
    return {
        key: value for key, value in task.items() if value is not None or key in ("input_schema", "metadata")
    }


# The step keys the server's step models are told apart by (julep.md section 3.2).
SERVER_STEPS = frozenset(
    {"prompt", "evaluate", "tool", "get", "set", "log", "workflow", "return", "sleep", "error"}
    | {"wait_for_input", "if", "switch", "foreach", "parallel", "over"}
)
# Each stored step carries the server's read-only discriminator.
STEP_KINDS: Mapping[str, str] = MappingProxyType(
    {"tool": "tool_call", "workflow": "yield", "if": "if_else", "over": "map_reduce"}
)


def with_kind(step: Any) -> Any:
    if not isinstance(step, dict):
        return step
    key = next((k for k in step if k not in ("label", "kind_")), "")
    return {**step, "kind_": STEP_KINDS.get(key, key)}
