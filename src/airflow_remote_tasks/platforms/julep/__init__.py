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
    },
    emulator="airflow_remote_tasks.emulators.julep.command",
)
