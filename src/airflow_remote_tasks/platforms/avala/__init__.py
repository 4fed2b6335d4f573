"""Avala: its REST API (annotation tasks, exports, auto-label jobs), DRF cursor pages, API-key header."""

from __future__ import annotations

from airflow_remote_tasks.core.assets import AssetShape
from airflow_remote_tasks.core.declaration import (
    Capability,
    ConnectionField,
    PlatformDeclaration,
    StandardField,
)

AVALA_UID = (r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}", "an Avala uid: letters, digits, '-' and '_'")

PLATFORM = PlatformDeclaration(
    name="avala",
    label="Avala",
    hook="airflow_remote_tasks.platforms.avala.hook.AvalaHook",
    platform="airflow_remote_tasks.platforms.avala.platform.AvalaPlatform",
    docs_url="https://docs.avala.ai",
    shown={
        "host": StandardField("Base URL", "leave empty for https://api.avala.ai/api/v1"),
        "password": StandardField("API key", "avk_... (sent as X-Avala-Api-Key)"),
        "port": StandardField(placeholder="only when the base URL names no port"),
    },
    fields=(
        ConnectionField(
            "app_url",
            "App URL",
            "Where the task's Remote run link opens: Avala's web app. Empty: https://avala.ai (the app host of "
            "Avala's own CLI). Links are <App URL>/projects/<project>/tasks/<task uid>, .../exports/<uid> and "
            ".../auto-label-jobs/<uid> (GUESS: Avala does not document its app's paths); a dataset export "
            "links to <App URL>/datasets/<dataset>/exports/<uid>.",
        ),
        ConnectionField(
            "status_map",
            "Status words",
            "JSON: Avala status word -> phase, added to or overriding the built-in table, e.g. "
            '{"in_review": "running", "archived": "succeeded"}. Unknown words count as not finished.',
        ),
    ),
    capabilities=frozenset(
        {
            Capability.ABORT,
            Capability.LIST_RUNS,
            Capability.STREAMED_OUTPUTS,
            Capability.RATE_LIMIT,
            Capability.EVENTS,
        }
    ),
    emulator="airflow_remote_tasks.emulators.avala.command",
    # One service, where a project's or a dataset's uid names it.
    assets=AssetShape(
        scheme="avala",
        label="Avala",
        forms=("projects/<project_uid>", "datasets/<dataset_uid>"),
        parts={"project_uid": AVALA_UID, "dataset_uid": AVALA_UID},
        example="avala://projects/3f1c9a52-6a1e-4b7a-9d0e-2c8f5b7e4a10",
    ),
    # Uids as the API shows them ("task-001", "exp-001", "alj-001"; UUIDs fit too): no "/", ".", "%" or
    # space, so an id names one object.
    run_id_pattern=r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}",
    run_id_example="an Avala uid such as 'task-001' (letters, digits, '-' and '_')",
)
