"""What ``get_provider_info`` returns, derived from the platform declarations."""

from __future__ import annotations

from typing import Any
from urllib.parse import SplitResult

from airflow_remote_tasks.core import assets
from airflow_remote_tasks.core.assets import HOST, UUID, AssetShape
from airflow_remote_tasks.core.declaration import PlatformDeclaration
from airflow_remote_tasks.core.forms import conn_fields, field_behaviour
from airflow_remote_tasks.version import __version__

INTEGRATION = "Remote Tasks"

# What each platform's asset URIs look like, by the scheme its declaration names. A Flyte task is known by its
# endpoint's host, project, domain and name (what a run of it needs); Julep's task ids are UUIDs, unique on
# their server; Labelbox and Avala are one service each, where a project's or a dataset's id names it.
_FLYTE_NAME = (r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?", "lower-case letters, digits and '-'")
_LABELBOX_ID = (r"[A-Za-z0-9_-]{5,64}", "a Labelbox id such as ckproj0000000000000000001, the end of its URL")
_AVALA_UID = (r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}", "an Avala uid: letters, digits, '-' and '_'")
ASSET_SHAPES: dict[str, AssetShape] = {
    shape.scheme: shape
    for shape in (
        AssetShape(
            scheme="flyte",
            label="Flyte",
            forms=("<host>/<project>/<domain>/<task>",),
            parts={
                "host": HOST,
                "project": _FLYTE_NAME,
                "domain": _FLYTE_NAME,
                "task": (r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}", "a task name such as my_env.train"),
            },
            example="flyte://acme.hosted.unionai.cloud/ml/production/my_env.train",
            lowered=frozenset({"host"}),
        ),
        AssetShape(
            scheme="julep",
            label="Julep",
            forms=("<host>/tasks/<task_id>",),
            parts={"host": HOST, "task_id": UUID},
            example="julep://api.julep.ai/tasks/068306ff-e0f3-7fe9-8000-0013626a759a",
            lowered=frozenset({"host", "task_id"}),
        ),
        AssetShape(
            scheme="labelbox",
            label="Labelbox",
            forms=("projects/<project_id>", "datasets/<dataset_id>"),
            parts={"project_id": _LABELBOX_ID, "dataset_id": _LABELBOX_ID},
            example="labelbox://projects/ckproj0000000000000000001",
        ),
        AssetShape(
            scheme="avala",
            label="Avala",
            forms=("projects/<project_uid>", "datasets/<dataset_uid>"),
            parts={"project_uid": _AVALA_UID, "dataset_uid": _AVALA_UID},
            example="avala://projects/3f1c9a52-6a1e-4b7a-9d0e-2c8f5b7e4a10",
        ),
    )
}


def normalise_asset_uri(parts: SplitResult) -> SplitResult:
    """Airflow's URI handler for the platforms' schemes (``asset-uris``): the URI in its one spelling.

    :raises ValueError: a URI of none of its scheme's forms, naming them.
    """
    return assets.normalise(parts, ASSET_SHAPES)


def asset_to_openlineage(asset: Any, lineage_context: Any) -> Any:
    """Airflow's OpenLineage converter for the platforms' schemes: see :func:`.assets.to_openlineage`."""
    return assets.to_openlineage(asset, ASSET_SHAPES)


def asset_uris(declarations: list[PlatformDeclaration]) -> list[dict[str, Any]]:
    """The ``asset-uris`` entry of each platform that names an asset scheme.

    :raises LookupError: a declared scheme without a shape in :data:`ASSET_SHAPES` (a programming error).
    """
    schemes = [d.asset_scheme for d in declarations if d.asset_scheme]
    unknown = sorted(set(schemes) - set(ASSET_SHAPES))
    if unknown:
        raise LookupError(f"No asset URI shape for the declared schemes {unknown}.")
    return [
        {
            "schemes": [scheme],
            "handler": f"{__name__}.normalise_asset_uri",
            "to_openlineage_converter": f"{__name__}.asset_to_openlineage",
        }
        for scheme in schemes
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
    }


def spoken_list(words: list[str]) -> str:
    """``a, b and c``."""
    return " and ".join(filter(None, [", ".join(words[:-1]), words[-1]])) if words else ""
