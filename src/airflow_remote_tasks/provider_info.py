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
    from airflow_remote_tasks.registry import DECLARATIONS

    return {
        "package-name": "airflow-provider-remote-tasks",
        "name": INTEGRATION,
        "description": f"Run tasks on {spoken_list([d.label for d in DECLARATIONS])} from Airflow, and wait for "
        "them in the worker or the triggerer.",
        "versions": [__version__],
        "integrations": [
            {"integration-name": INTEGRATION, "tags": ["service"]},
            *(
                {"integration-name": d.label, "external-doc-url": d.docs_url, "tags": ["service"]}
                for d in DECLARATIONS
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
        "hooks": [{"integration-name": d.label, "python-modules": [d.hook_module]} for d in DECLARATIONS],
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
        "connection-types": [connection_type(d) for d in DECLARATIONS],
    }


def spoken_list(words: list[str]) -> str:
    """``a, b and c``."""
    return " and ".join(filter(None, [", ".join(words[:-1]), words[-1]])) if words else ""
