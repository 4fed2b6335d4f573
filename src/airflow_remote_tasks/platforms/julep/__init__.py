"""Julep: REST API of tasks and executions (``/tasks``, ``/executions``), bearer API key."""

from __future__ import annotations

from airflow_remote_tasks.core.declaration import PlatformDeclaration
from airflow_remote_tasks.core.forms import TEXT

PLATFORM = PlatformDeclaration(
    name="julep",
    label="Julep",
    hook="airflow_remote_tasks.platforms.julep.hook.JulepHook",
    docs_url="https://docs.julep.ai",
    field_behaviour={
        "hidden-fields": ["schema", "login", "extra"],
        "relabeling": {"host": "Base URL (custom)", "password": "API key"},
        "placeholders": {
            "host": "leave empty for the environment's URL; self-hosted: https://julep.example.com/api",
            "password": "Julep API key",
            "port": "only when the base URL names no port",
            "execution_link": "https://dashboard.example.com/executions/{execution_id}",
        },
    },
    fields={
        "environment": {
            "label": "Environment",
            "description": "Used when Base URL is empty.",
            "schema": {**TEXT, "default": "production", "enum": ["production", "dev"]},
        },
        "agent_id": {
            "label": "Agent ID",
            "description": "Default agent for task definitions and for looking tasks up by name.",
            "schema": TEXT,
        },
        "auth_header": {
            "label": "Auth header name",
            "description": "Authorization (sends 'Bearer <key>'); a self-hosted server may use X-Auth-Key.",
            "schema": {**TEXT, "default": "Authorization"},
        },
        "execution_link": {
            "label": "Execution link",
            "description": "Where a run's Remote run link points: a URL with {execution_id} (and optionally "
            "{task_id}). Empty: runs have no link.",
            "schema": TEXT,
        },
    },
    emulator="airflow_remote_tasks.emulators.julep.command",
    # Executions are named by their UUID, in its usual 8-4-4-4-12 hexadecimal form.
    run_id_pattern=r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}",
    run_id_example="an execution UUID such as 068306ff-e0f3-7fe9-8000-0013626a759a",
)
