"""Julep: REST API of tasks and executions (``/tasks``, ``/executions``), bearer API key."""

from __future__ import annotations

from airflow_remote_tasks.core.assets import HOST, UUID, AssetShape
from airflow_remote_tasks.core.declaration import (
    Capability,
    ConnectionField,
    PlatformDeclaration,
    StandardField,
)

PLATFORM = PlatformDeclaration(
    name="julep",
    label="Julep",
    hook="airflow_remote_tasks.platforms.julep.hook.JulepHook",
    platform="airflow_remote_tasks.platforms.julep.platform.JulepPlatform",
    docs_url="https://docs.julep.ai",
    shown={
        "host": StandardField(
            "Base URL (custom)",
            "leave empty for the environment's URL; self-hosted: https://julep.example.com/api",
        ),
        "password": StandardField("API key", "Julep API key"),
        "port": StandardField(placeholder="only when the base URL names no port"),
    },
    fields=(
        ConnectionField(
            "environment",
            "Environment",
            "Used when Base URL is empty.",
            default="production",  # the hosted API, as the official SDK's default
            choices=("production", "dev"),
        ),
        ConnectionField(
            "agent_id", "Agent ID", "Default agent for task definitions and for looking tasks up by name."
        ),
        ConnectionField(
            "auth_header",
            "Auth header name",
            "Authorization (sends 'Bearer <key>'); a self-hosted server may use X-Auth-Key.",
            default="Authorization",  # what Julep's hosted API reads
        ),
        ConnectionField(
            "execution_link",
            "Execution link",
            "Where a run's Remote run link points: a URL with {execution_id} (and optionally {task_id}). Empty: "
            "runs have no link.",
            placeholder="https://dashboard.example.com/executions/{execution_id}",
        ),
    ),
    capabilities=frozenset(
        {Capability.ABORT, Capability.RESUME, Capability.PROGRESS, Capability.LOGS, Capability.EVENTS}
    ),
    why_not={Capability.LIST_RUNS: "Julep lists executions per task, not across tasks by a filter"},
    emulator="airflow_remote_tasks.emulators.julep.command",
    # Julep's task ids are UUIDs, unique on their server.
    assets=AssetShape(
        scheme="julep",
        label="Julep",
        forms=("<host>/tasks/<task_id>",),
        parts={"host": HOST, "task_id": UUID},
        example="julep://api.julep.ai/tasks/068306ff-e0f3-7fe9-8000-0013626a759a",
        lowered=frozenset({"host", "task_id"}),
    ),
    # Executions are named by their UUID, in its usual 8-4-4-4-12 hexadecimal form.
    run_id_pattern=r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}",
    run_id_example="an execution UUID such as 068306ff-e0f3-7fe9-8000-0013626a759a",
)
