"""Labelbox: its GraphQL API (exports, tasks), and the jobs a DAG starts there."""

from __future__ import annotations

from airflow_remote_tasks.core.assets import AssetShape
from airflow_remote_tasks.core.declaration import (
    Capability,
    ConnectionField,
    PlatformDeclaration,
    StandardField,
)

LABELBOX_ID = (r"[A-Za-z0-9_-]{5,64}", "a Labelbox id such as ckproj0000000000000000001, the end of its URL")

PLATFORM = PlatformDeclaration(
    name="labelbox",
    label="Labelbox",
    hook="airflow_remote_tasks.platforms.labelbox.hook.LabelboxHook",
    platform="airflow_remote_tasks.platforms.labelbox.platform.LabelboxPlatform",
    docs_url="https://docs.labelbox.com",
    shown={
        "host": StandardField("GraphQL endpoint", "leave empty for https://api.labelbox.com/graphql"),
        "password": StandardField("API key", "an API key from Workspace settings > API keys"),
        "port": StandardField(placeholder="only when the endpoint names no port"),
    },
    fields=(
        ConnectionField(
            "app_url",
            "App URL",
            "Where links to projects and tasks point (default https://app.labelbox.com).",
            kind="url",
        ),
    ),
    capabilities=frozenset({Capability.ABORT, Capability.STREAMED_OUTPUTS, Capability.EVENTS}),
    why_not={
        Capability.LIST_RUNS: "Labelbox filters its task listing by status only, and a set chosen by status "
        "changes as its tasks finish, so it cannot be waited on until all are done"
    },
    emulator="airflow_remote_tasks.emulators.labelbox.command",
    # One service, where a project's or a dataset's id names it.
    assets=AssetShape(
        scheme="labelbox",
        label="Labelbox",
        forms=("projects/<project_id>", "datasets/<dataset_id>"),
        parts={"project_id": LABELBOX_ID, "dataset_id": LABELBOX_ID},
        example="labelbox://projects/ckproj0000000000000000001",
    ),
    # Task ids are cuids ("ck" and lower-case letters and digits, 25 characters); the pattern is looser, so
    # that an id of another length or a test server's ids still pass, but nothing that is a path or a URL.
    run_id_pattern=r"[A-Za-z0-9_-]{5,64}",
    run_id_example="a Labelbox task id such as 'cktask4d654eaee7964fca8b3'",
)
