"""Apache Airflow provider for remote tasks: Flyte 2 / Union, Julep, Labelbox and Avala.

Public names load lazily so that importing the package at DAG-parse time costs almost nothing.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from airflow_remote_tasks.version import __version__

if TYPE_CHECKING:
    from airflow_remote_tasks.core.errors import (
        ApiError,
        AuthenticationError,
        ConfigurationError,
        InvalidInputsError,
        NotFoundError,
        OutputsTooLargeError,
        RemoteRunError,
        RemoteTaskError,
        TransportError,
    )
    from airflow_remote_tasks.core.models import RunOrigin, RunRef, RunStatus, TaskInterface
    from airflow_remote_tasks.core.phases import Phase
    from airflow_remote_tasks.hooks.base import RemoteTaskHook
    from airflow_remote_tasks.links.remote_run import RemoteRunLink
    from airflow_remote_tasks.operators.asset_events import output_path_alias
    from airflow_remote_tasks.operators.human_input import HumanInput
    from airflow_remote_tasks.operators.remote_task import RemoteTaskOperator
    from airflow_remote_tasks.operators.resume_run import ResumeRunOperator
    from airflow_remote_tasks.operators.waits_for_run import WaitsForRun
    from airflow_remote_tasks.sensors.remote_run import RemoteRunSensor
    from airflow_remote_tasks.sensors.remote_runs import RemoteRunsSensor
    from airflow_remote_tasks.triggers.events import RemoteEventTrigger
    from airflow_remote_tasks.triggers.remote_run import RemoteRunTrigger
    from airflow_remote_tasks.triggers.remote_runs import RemoteRunsTrigger

_EXPORTS = {
    "RemoteTaskOperator": "airflow_remote_tasks.operators.remote_task",
    "WaitsForRun": "airflow_remote_tasks.operators.waits_for_run",
    "ResumeRunOperator": "airflow_remote_tasks.operators.resume_run",
    "HumanInput": "airflow_remote_tasks.operators.human_input",
    "output_path_alias": "airflow_remote_tasks.operators.asset_events",
    "RemoteEventTrigger": "airflow_remote_tasks.triggers.events",
    "RemoteRunSensor": "airflow_remote_tasks.sensors.remote_run",
    "RemoteRunsSensor": "airflow_remote_tasks.sensors.remote_runs",
    "RemoteRunsTrigger": "airflow_remote_tasks.triggers.remote_runs",
    "RemoteRunTrigger": "airflow_remote_tasks.triggers.remote_run",
    "RemoteRunLink": "airflow_remote_tasks.links.remote_run",
    "RemoteTaskHook": "airflow_remote_tasks.hooks.base",
    "Phase": "airflow_remote_tasks.core.phases",
    "RunOrigin": "airflow_remote_tasks.core.models",
    "RunRef": "airflow_remote_tasks.core.models",
    "RunStatus": "airflow_remote_tasks.core.models",
    "TaskInterface": "airflow_remote_tasks.core.models",
    "RemoteTaskError": "airflow_remote_tasks.core.errors",
    "ConfigurationError": "airflow_remote_tasks.core.errors",
    "InvalidInputsError": "airflow_remote_tasks.core.errors",
    "TransportError": "airflow_remote_tasks.core.errors",
    "ApiError": "airflow_remote_tasks.core.errors",
    "AuthenticationError": "airflow_remote_tasks.core.errors",
    "NotFoundError": "airflow_remote_tasks.core.errors",
    "RemoteRunError": "airflow_remote_tasks.core.errors",
    "OutputsTooLargeError": "airflow_remote_tasks.core.errors",
}

__all__ = [
    "ApiError",
    "AuthenticationError",
    "ConfigurationError",
    "HumanInput",
    "InvalidInputsError",
    "NotFoundError",
    "OutputsTooLargeError",
    "Phase",
    "RemoteEventTrigger",
    "RemoteRunError",
    "RemoteRunLink",
    "RemoteRunSensor",
    "RemoteRunTrigger",
    "RemoteRunsSensor",
    "RemoteRunsTrigger",
    "RemoteTaskError",
    "RemoteTaskHook",
    "RemoteTaskOperator",
    "ResumeRunOperator",
    "RunOrigin",
    "RunRef",
    "RunStatus",
    "TaskInterface",
    "TransportError",
    "WaitsForRun",
    "__version__",
    "get_provider_info",
    "output_path_alias",
]


def __getattr__(name: str) -> Any:
    """Public names, and each platform's hook (``FlyteHook``, ``JulepHook``...), loaded on first use."""
    module = _EXPORTS.get(name)
    if module is not None:
        return getattr(importlib.import_module(module), name)
    from airflow_remote_tasks.registry import by_hook_class_name, hook_class

    declaration = by_hook_class_name(name)
    if declaration is not None:
        return hook_class(declaration)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def get_provider_info() -> dict[str, Any]:
    from airflow_remote_tasks.provider_info import provider_info

    return provider_info()
