"""What ``get_provider_info`` returns, derived from the platform declarations."""

from __future__ import annotations

from typing import Any
from urllib.parse import SplitResult

from airflow_remote_tasks.core import assets
from airflow_remote_tasks.core.assets import AssetShape
from airflow_remote_tasks.core.declaration import PlatformDeclaration
from airflow_remote_tasks.core.forms import conn_fields, field_behaviour
from airflow_remote_tasks.version import __version__

INTEGRATION = "Remote Tasks"


def asset_shapes() -> dict[str, AssetShape]:
    """Each platform's asset URI forms, by scheme (read from the declarations on each call: four entries)."""
    from airflow_remote_tasks.registry import DECLARATIONS

    return {d.assets.scheme: d.assets for d in DECLARATIONS if d.assets is not None}


def normalise_asset_uri(parts: SplitResult) -> SplitResult:
    """Airflow's URI handler for the platforms' schemes (``asset-uris``): the URI in its one spelling.

    :raises ValueError: a URI of none of its scheme's forms, naming them.
    """
    return assets.normalise(parts, asset_shapes())


def asset_to_openlineage(asset: Any, lineage_context: Any) -> Any:
    """Airflow's OpenLineage converter for the platforms' schemes: see :func:`.assets.to_openlineage`."""
    return assets.to_openlineage(asset, asset_shapes())


def asset_uris(declarations: list[PlatformDeclaration]) -> list[dict[str, Any]]:
    """The ``asset-uris`` entry of each platform that declares asset URIs."""
    return [
        {
            "schemes": [d.assets.scheme],
            "handler": f"{__name__}.normalise_asset_uri",
            "to_openlineage_converter": f"{__name__}.asset_to_openlineage",
        }
        for d in declarations
        if d.assets is not None
    ]


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
        "asset-uris": asset_uris(list(DECLARATIONS)),
        "config": {
            "remote_tasks": {
                "description": "Settings of the Remote Tasks provider.",
                "options": {
                    "costly_watch_min_poll_interval": {
                        "description": "Shortest poll interval, in seconds, of an asset watcher whose every "
                        "poll is costly to the platform (a Labelbox 'labels' watcher starts an export on each "
                        "poll); a shorter one is refused when the DAG is parsed.",
                        "version_added": None,
                        "type": "float",
                        "example": "900",
                        "default": "900",
                    }
                },
            }
        },
    }


def spoken_list(words: list[str]) -> str:
    """``a, b and c``."""
    return " and ".join(filter(None, [", ".join(words[:-1]), words[-1]])) if words else ""
