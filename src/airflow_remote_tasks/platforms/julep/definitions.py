"""A Julep task definition written in a DAG, checked against the shape of Julep's create-task request
before anything is sent: a mistake is named with its place in the definition, at the first try."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jsonschema

# The key that makes a step what it is (one per step), with the keys that may stand beside it.
STEP_KEYS: dict[str, frozenset[str]] = {
    "prompt": frozenset(
        {"unwrap", "settings", "tools", "tool_choice", "auto_run_tools", "disable_cache", "output_schema"}
    ),
    "evaluate": frozenset(),
    "tool": frozenset({"arguments"}),
    "get": frozenset(),
    "set": frozenset(),
    "log": frozenset(),
    "workflow": frozenset({"arguments"}),
    "return": frozenset(),
    "sleep": frozenset(),
    "error": frozenset(),
    "wait_for_input": frozenset(),
    "if": frozenset({"then", "else"}),
    "switch": frozenset(),
    "foreach": frozenset(),
    "parallel": frozenset(),
    "over": frozenset({"map", "reduce", "initial", "parallelism"}),
}
ANY_STEP = frozenset({"label"})
# Top-level fields of a task; any other top-level key names a sub-workflow: a list of steps, like main.
FIELDS = frozenset(
    {"name", "description", "main", "input_schema", "tools", "inherit_tools", "metadata", "canonical_name"}
)
TOOL_TYPES = frozenset(
    {
        "function",
        "integration",
        "system",
        "api_call",
        "computer_20241022",
        "text_editor_20241022",
        "bash_20241022",
    }
)


def definition_problems(spec: Mapping[str, Any]) -> list[str]:
    """What keeps ``spec`` (without ``agent_id``) from being a valid task: one line per problem."""
    problems: list[str] = []
    if not isinstance(spec.get("name"), str) or not spec["name"].strip():
        problems.append("'name' must be a non-empty string")
    if "description" in spec and not isinstance(spec["description"], str):
        problems.append("'description' must be a string")
    for key, value in spec.items():
        if key == "main" or key not in FIELDS:
            problems += _workflow(value, key)
    if "main" not in spec:
        problems.append("'main' is missing: a list of steps")
    schema = spec.get("input_schema")
    if schema is not None:
        if not isinstance(schema, Mapping):
            problems.append("'input_schema' must be a JSON Schema object")
        else:
            try:
                jsonschema.validators.validator_for(schema).check_schema(schema)
            except jsonschema.SchemaError as error:
                problems.append(f"'input_schema' is not a valid JSON Schema: {error.message}")
    tools = spec.get("tools", [])
    if not isinstance(tools, list):
        problems.append("'tools' must be a list")
    else:
        for index, tool in enumerate(tools):
            if not isinstance(tool, Mapping) or not tool.get("name") or tool.get("type") not in TOOL_TYPES:
                problems.append(
                    f"tools[{index}] needs a 'name' and a 'type' (one of {', '.join(sorted(TOOL_TYPES))})"
                )
    if "inherit_tools" in spec and not isinstance(spec["inherit_tools"], bool):
        problems.append("'inherit_tools' must be true or false")
    if spec.get("metadata") is not None and not isinstance(spec["metadata"], Mapping):
        problems.append("'metadata' must be an object")
    return problems


def _workflow(steps: Any, where: str) -> list[str]:
    if not isinstance(steps, list) or not steps:
        return [f"{where!r} must be a non-empty list of steps, not {_short(steps)}"]
    problems: list[str] = []
    for index, step in enumerate(steps):
        problems += _step(step, f"{where}[{index}]")
    return problems


def _step(step: Any, where: str) -> list[str]:
    if not isinstance(step, Mapping):
        return [f"{where} must be a step object such as {{'evaluate': {{...}}}}, not {_short(step)}"]
    kinds = [key for key in step if key in STEP_KEYS]
    if len(kinds) != 1:
        found = f"has {', '.join(map(repr, kinds))}" if kinds else f"has keys {sorted(step)}"
        return [f"{where} must hold exactly one of {', '.join(STEP_KEYS)}; it {found}"]
    kind = kinds[0]
    unknown = set(step) - {kind} - STEP_KEYS[kind] - ANY_STEP
    problems = [f"{where} ({kind}) has unknown keys {sorted(unknown)}"] if unknown else []
    for nested in ("then", "else", "map"):
        if nested in step and kind in ("if", "over"):
            problems += _step(step[nested], f"{where}.{nested}")
    if kind == "foreach":
        body = step["foreach"]
        if not isinstance(body, Mapping) or "in" not in body or "do" not in body:
            problems.append(f"{where}.foreach needs 'in' and 'do'")
        else:
            problems += _step(body["do"], f"{where}.foreach.do")
    if kind == "parallel":
        problems += _workflow(step["parallel"], f"{where}.parallel")
    if kind == "switch":
        cases = step["switch"]
        if not isinstance(cases, list) or not all(isinstance(c, Mapping) and "then" in c for c in cases):
            problems.append(f"{where}.switch must be a list of {{'case': ..., 'then': step}}")
        else:
            for index, case in enumerate(cases):
                problems += _step(case["then"], f"{where}.switch[{index}].then")
    return problems


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
