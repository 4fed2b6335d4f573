"""Flyte tasks: finding a deployed task's interface, and encoding a run's inputs for it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_remote_tasks.core.errors import ConfigurationError, NotFoundError
from airflow_remote_tasks.core.models import InputSpec, TaskInterface
from airflow_remote_tasks.core.operation import Operation
from airflow_remote_tasks.platforms.flyte import PLATFORM, literals
from airflow_remote_tasks.platforms.flyte.api import TASK_SERVICE, FlyteApi


def resolve_task(api: FlyteApi, task: str | Mapping[str, Any], version: str) -> Operation[TaskInterface]:
    """The deployed task ``task`` at ``version`` ("" or "latest": the newest).

    :raises ConfigurationError: ``task`` is a definition, not a name (Flyte tasks are deployed with the SDK).
    :raises NotFoundError: no such task, or no such version of it, in the connection's project and domain.
    """
    if not isinstance(task, str):
        raise ConfigurationError(
            "Flyte tasks are deployed with 'flyte deploy', not from a DAG: pass the task's name "
            "('<environment>.<function>') as task."
        )
    c = api.config
    where = f"project {c.project!r}, domain {c.domain!r}"
    if version in ("", "latest"):
        listed = yield from api.call(
            f"{TASK_SERVICE}/ListTasks",
            {
                "projectId": api.project_id,
                "request": {
                    "limit": 1,
                    "sortBy": {"key": "created_at", "direction": "DESCENDING"},
                    "filters": [{"function": "EQUAL", "field": "name", "values": [task]}],
                },
            },
        )
        tasks = listed.get("tasks") or []
        if not tasks:
            raise NotFoundError(
                f"No Flyte task named {task!r} in {where}. Task names look like "
                "'<environment>.<function>'; deploy it first or fix the name.",
                status=404,
                code="not_found",
            )
        version = str(tasks[0].get("taskId", {}).get("version", ""))
    task_id = {"org": c.org, "project": c.project, "domain": c.domain, "name": task, "version": version}
    try:
        body = yield from api.call(f"{TASK_SERVICE}/GetTaskDetails", {"taskId": task_id})
    except NotFoundError:
        raise NotFoundError(
            f"Flyte task {task!r} version {version!r} does not exist in {where}. Use version='latest' "
            "or a deployed version.",
            status=404,
            code="not_found",
        ) from None
    return parse_task_details(task, version, task_id, body.get("details", {}))


def prepare_inputs(interface: TaskInterface, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """The run's inputs as flyteidl2 ``Inputs`` (``{"literals": [...]}``), defaults filled in.

    :raises InvalidInputsError: listing every unknown, missing or ill-typed input, and the inputs expected.
    """
    expected = {spec.name: spec for spec in interface.inputs}
    problems = [f"unknown input {name!r}" for name in inputs if name not in expected]
    encoded = []
    for name, spec in expected.items():
        if name in inputs:
            try:
                encoded.append({"name": name, "value": literals.encode(inputs[name], spec.wire_type, name)})
            except literals.LiteralError as error:
                problems.append(str(error))
        elif spec.has_default:
            encoded.append({"name": name, "value": interface.wire["defaults"][name]})
        elif not spec.required:
            encoded.append({"name": name, "value": literals.encode(None, spec.wire_type, name)})
        else:
            problems.append(f"missing input {name!r}")
    if problems:
        task = f"Flyte task {interface.task!r} (version {interface.version})"
        raise interface.inputs_refused(task, "interface", problems)
    return {"literals": encoded}


def parse_task_details(
    task: str, version: str, task_id: dict[str, str], details: dict[str, Any]
) -> TaskInterface:
    spec = details.get("spec", {})
    interface = spec.get("taskTemplate", {}).get("interface", {})
    defaults = {d["name"]: d.get("parameter", {}) for d in spec.get("defaultInputs", []) if "name" in d}
    inputs = []
    default_literals = {}
    for variable in interface.get("inputs", {}).get("variables", []):
        name = variable["key"]
        wire_type = variable.get("value", {}).get("type", {})
        parameter = defaults.get(name, {})
        has_default = "default" in parameter
        if has_default:
            default_literals[name] = parameter["default"]
        optional = "unionType" in wire_type and any(
            literals.simple_of(v) == "NONE" for v in wire_type["unionType"].get("variants", [])
        )
        inputs.append(
            InputSpec(
                name=name,
                type=literals.render_type(wire_type),
                required=not (has_default or optional),
                has_default=has_default,
                default=literals.decode(parameter["default"]) if has_default else None,
                wire_type=wire_type,
            )
        )
    outputs = [v["key"] for v in interface.get("outputs", {}).get("variables", [])]
    return TaskInterface(
        platform=PLATFORM.name,
        task=task,
        version=version,
        inputs=inputs,
        outputs=outputs,
        wire={"taskId": task_id, "defaults": default_literals},
    )
