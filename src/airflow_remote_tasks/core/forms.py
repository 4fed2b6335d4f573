"""Airflow's declarative connection form ("ui-field-behaviour" and "conn-fields"), built from a declaration."""

from __future__ import annotations

from typing import Any

from airflow_remote_tasks.core.declaration import (
    AIRFLOW_FIELDS,
    ConnectionField,
    FieldKind,
    PlatformDeclaration,
)

# The JSON schema each kind of field starts from; a default, choices and a minimum are added to it.
SCHEMAS: dict[FieldKind, dict[str, Any]] = {
    "text": {"type": ["string", "null"]},
    "url": {"type": ["string", "null"], "format": "url"},
    "secret": {"type": ["string", "null"], "format": "password"},
    "flag": {"type": "boolean"},
    "number": {"type": ["number", "null"]},
}


def field_behaviour(declaration: PlatformDeclaration) -> dict[str, Any]:
    """Which of Airflow's own fields are hidden, relabelled, and what every field's placeholder says."""
    shown = declaration.shown
    placeholders = {name: f.placeholder for name, f in shown.items() if f.placeholder}
    placeholders.update({f.name: f.placeholder for f in declaration.fields if f.placeholder and f.in_form})
    return {
        "hidden-fields": [name for name in AIRFLOW_FIELDS if name not in shown],
        "relabeling": {name: f.label for name, f in shown.items() if f.label},
        "placeholders": placeholders,
    }


def conn_fields(declaration: PlatformDeclaration) -> dict[str, Any]:
    """The form's fields of the connection's extra: the platform's, then the transport's."""
    return {f.name: form_field(f) for f in declaration.connection_fields.values() if f.in_form}


def form_field(declared: ConnectionField) -> dict[str, Any]:
    schema = dict(SCHEMAS[declared.kind])
    if declared.default is not None:
        schema["default"] = declared.default
    if declared.choices:
        schema["enum"] = list(declared.choices)
    if declared.minimum is not None:
        schema["minimum"] = declared.minimum
    entry: dict[str, Any] = {"label": declared.label}
    if declared.description:
        entry["description"] = declared.description
    entry["schema"] = schema
    return entry
