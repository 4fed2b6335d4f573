"""Labelbox: its GraphQL API (exports, tasks), and the jobs a DAG starts there."""

from __future__ import annotations

from airflow_remote_tasks.core.declaration import PlatformDeclaration
from airflow_remote_tasks.core.forms import TEXT

PLATFORM = PlatformDeclaration(
    name="labelbox",
    label="Labelbox",
    hook="airflow_remote_tasks.platforms.labelbox.hook.LabelboxHook",
    docs_url="https://docs.labelbox.com",
    field_behaviour={
        "hidden-fields": ["schema", "login", "extra"],
        "relabeling": {"host": "GraphQL endpoint", "password": "API key"},
        "placeholders": {
            "host": "leave empty for https://api.labelbox.com/graphql",
            "password": "an API key from Workspace settings > API keys",
            "port": "only when the endpoint names no port",
        },
    },
    fields={
        "app_url": {
            "label": "App URL",
            "description": "Where links to projects and tasks point (default https://app.labelbox.com).",
            "schema": {**TEXT, "format": "url"},
        },
    },
    emulator="airflow_remote_tasks.emulators.labelbox.command",
    # Task ids are cuids ("ck" and lower-case letters and digits, 25 characters); the pattern is looser, so
    # that an id of another length or a test server's ids still pass, but nothing that is a path or a URL.
    run_id_pattern=r"[A-Za-z0-9_-]{5,64}",
    run_id_example="a Labelbox task id such as 'cktask4d654eaee7964fca8b3'",
)
