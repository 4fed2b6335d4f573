"""What ``get_provider_info`` returns, derived from the platform declarations."""

from __future__ import annotations

from typing import Any

from airflow_remote_tasks.core.declaration import PlatformDeclaration
from airflow_remote_tasks.core.forms import conn_fields, field_behaviour
from airflow_remote_tasks.version import __version__

INTEGRATION = "Remote Tasks"


def connection_type(declaration: PlatformDeclaration) -> dict[str, Any]:
    return {
        "connection-type": declaration.conn_type,
        "hook-class-name": declaration.hook,
        "hook-name": declaration.hook_name,
        "ui-field-behaviour": field_behaviour(declaration),
        "conn-fields": conn_fields(declaration),
    }


def provider_info() -> dict[str, Any]:
    from airflow_remote_tasks.platforms import PLATFORMS

    platforms = list(PLATFORMS.values())
    return {
        "package-name": "airflow-provider-remote-tasks",
        "name": INTEGRATION,
        "description": "Run tasks on Flyte 2 / Union, Julep, Labelbox and Avala from Airflow, and wait for them "
        "in the worker or the triggerer.",
        "versions": [__version__],
        "integrations": [
            {"integration-name": INTEGRATION, "tags": ["service"]},
            *(
                {"integration-name": p.label, "external-doc-url": p.docs_url, "tags": ["service"]}
                for p in platforms
            ),
        ],
        "operators": [
            {
                "integration-name": INTEGRATION,
                "python-modules": [
                    "airflow_remote_tasks.operators.remote_task",
                    "airflow_remote_tasks.operators.resume_run",
                ],
            }
        ],
        "sensors": [
            {
                "integration-name": INTEGRATION,
                "python-modules": [
                    "airflow_remote_tasks.sensors.remote_run",
                    "airflow_remote_tasks.sensors.remote_runs",
                ],
            }
        ],
        "hooks": [{"integration-name": p.label, "python-modules": [p.hook_module]} for p in platforms],
        "triggers": [
            {
                "integration-name": INTEGRATION,
                "python-modules": [
                    "airflow_remote_tasks.triggers.remote_run",
                    "airflow_remote_tasks.triggers.remote_runs",
                ],
            }
        ],
        "extra-links": ["airflow_remote_tasks.links.remote_run.RemoteRunLink"],
        "connection-types": [connection_type(p) for p in platforms],
    }
