"""Julep tasks: found by id or by name, or created and updated from a definition written in the DAG; their
``input_schema`` is the interface inputs are checked against."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from typing import Any

from airflow_remote_tasks.core.errors import ConfigurationError, NotFoundError
from airflow_remote_tasks.core.models import InputSpec, TaskInterface
from airflow_remote_tasks.core.operation import Operation
from airflow_remote_tasks.platforms.julep import PLATFORM, rest
from airflow_remote_tasks.platforms.julep.config import JulepConfig
from airflow_remote_tasks.platforms.julep.definitions import definition_problems
from airflow_remote_tasks.platforms.julep.schema import check_inputs, inputs_of_schema

# Task ids chosen for definitions: the same agent and task name always give the same id.
TASK_NAMESPACE = uuid.UUID("6f1d9a52-7c1e-4f5b-9a3e-2b8c0d4e7a61")
DEFINITION_HASH = "airflow_definition_sha256"


def definition_task_id(agent_id: str, name: str) -> str:
    return str(uuid.uuid5(TASK_NAMESPACE, f"{agent_id}/{name}"))


def definition_hash(definition: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(definition, sort_keys=True, default=str).encode()).hexdigest()


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def resolve_task(
    config: JulepConfig, task: str | Mapping[str, Any], version: str
) -> Operation[TaskInterface]:
    """The interface of the task ``task`` names: a definition (created or updated), a task id, or a name looked
    up among the connection's agent's tasks.

    :raises ConfigurationError: a version is given (Julep tasks have none), a name without the connection's
        Agent ID, or a definition that cannot be used (nothing sent).
    :raises NotFoundError: no task with that id, or the agent has no task of that name.
    """
    if version not in ("", "latest"):
        raise ConfigurationError(
            f"Julep tasks have no versions (got version={version!r}); leave version unset. A changed "
            "definition updates the task in place."
        )
    if not isinstance(task, str):
        body = yield from deploy(config, task)
    elif _is_uuid(task):
        try:
            body = yield from rest.call(config, "GET", f"tasks/{rest.segment(task, 'task')}")
        except NotFoundError:
            raise NotFoundError(
                f"No Julep task with id {task!r} at {config.base_url}. Check the id (the dashboard "
                "or `julep tasks list` shows it), or pass a task definition to create it.",
                status=404,
                code="not_found",
            ) from None
    else:
        body = yield from task_by_name(config, task)
    return task_interface(body)


def task_by_name(config: JulepConfig, name: str) -> Operation[dict[str, Any]]:
    """:raises ConfigurationError: the connection has no Agent ID. :raises NotFoundError: no such task."""
    agent = config.agent_id
    if not agent:
        raise ConfigurationError(
            f"Julep task {name!r} is not a task id. Pass the task's UUID, a task definition, or set the "
            "connection's Agent ID to look tasks up by name."
        )
    task = yield from rest.find_item(
        config,
        f"agents/{rest.segment(agent, 'agent_id')}/tasks",
        lambda item: name in (item.get("name"), item.get("canonical_name")),
    )
    if task is not None:
        return task
    raise NotFoundError(
        f"Agent {agent} has no Julep task named {name!r}. Check the name, or pass a task definition.",
        status=404,
        code="not_found",
    )


def deploy(config: JulepConfig, definition: Mapping[str, Any]) -> Operation[dict[str, Any]]:
    """Create the task, or update it when its definition changed; an unchanged one is left alone.

    :raises ConfigurationError: the definition cannot be used (every problem listed); nothing was sent.
    """
    spec = dict(definition)
    agent = str(spec.pop("agent_id", "") or config.agent_id)
    problems = definition_problems(spec)
    if not agent:
        problems.append("no agent: set 'agent_id' in the definition or the connection's Agent ID")
    if problems:
        raise ConfigurationError(
            "The Julep task definition cannot be used; nothing was sent:\n"
            + "\n".join(f"- {p}" for p in problems)
        )
    digest = definition_hash(spec)
    task_id = definition_task_id(agent, str(spec["name"]))
    try:
        current = yield from rest.call(config, "GET", f"tasks/{rest.segment(task_id, 'task_id')}")
    except NotFoundError:
        current = None
    if current is not None and (current.get("metadata") or {}).get(DEFINITION_HASH) == digest:
        return dict(current)
    spec["metadata"] = {
        **(spec.get("metadata") or {}),
        "created_by": "airflow",
        DEFINITION_HASH: digest,
    }
    # Create-or-update under a client-chosen id: safe to send twice.
    saved = yield from rest.call(
        config,
        "POST",
        f"agents/{rest.segment(agent, 'agent_id')}/tasks/{rest.segment(task_id, 'task_id')}",
        body=spec,
    )
    return dict(saved)


def task_interface(body: Mapping[str, Any]) -> TaskInterface:
    schema = body.get("input_schema")
    name = str(body.get("name") or body.get("id"))
    inputs: list[InputSpec] = inputs_of_schema(schema)
    return TaskInterface(
        platform=PLATFORM.name,
        task=name,
        inputs=inputs,
        wire={"task_id": str(body["id"]), "input_schema": schema},
    )


def execution_input(interface: TaskInterface, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """``inputs`` checked against the task's ``input_schema``, its defaults filled in: the execution's input.

    :raises InvalidInputsError: listing every problem and the inputs expected; nothing was submitted.
    """
    problems, filled = check_inputs(interface.wire.get("input_schema"), inputs)
    if problems:
        raise interface.inputs_refused(f"Julep task {interface.task!r}", "input_schema", problems)
    return filled
