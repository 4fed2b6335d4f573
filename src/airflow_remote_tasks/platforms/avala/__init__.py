"""Avala: its REST API (annotation tasks, exports, auto-label jobs), DRF cursor pages, API-key header."""

from __future__ import annotations

from airflow_remote_tasks.core.declaration import PlatformDeclaration
from airflow_remote_tasks.core.forms import TEXT

PLATFORM = PlatformDeclaration(
    name="avala",
    label="Avala",
    hook="airflow_remote_tasks.platforms.avala.hook.AvalaHook",
    docs_url="https://docs.avala.ai",
    field_behaviour={
        "hidden-fields": ["schema", "login", "extra"],
        "relabeling": {"host": "Base URL", "password": "API key"},
        "placeholders": {
            "host": "leave empty for https://api.avala.ai/api/v1",
            "password": "avk_... (sent as X-Avala-Api-Key)",
            "port": "only when the base URL names no port",
        },
    },
    fields={
        "status_map": {
            "label": "Status words",
            "description": "JSON: Avala status word -> phase, added to or overriding the built-in table, e.g. "
            '{"in_review": "running", "archived": "succeeded"}. Unknown words count as not finished.',
            "schema": TEXT,
        },
    },
    emulator="airflow_remote_tasks.emulators.avala.command",
)
