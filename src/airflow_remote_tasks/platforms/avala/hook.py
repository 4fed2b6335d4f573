"""Avala connections."""

from __future__ import annotations

import json

from pydantic import SecretStr

from airflow_remote_tasks.core.errors import ConfigurationError
from airflow_remote_tasks.core.phases import Phase
from airflow_remote_tasks.hooks.base import ConnectionView, RemoteTaskHook, client_settings, with_port
from airflow_remote_tasks.platforms.avala import PLATFORM
from airflow_remote_tasks.platforms.avala.config import DEFAULT_APP_URL, DEFAULT_BASE_URL, AvalaConfig
from airflow_remote_tasks.platforms.avala.platform import AvalaPlatform


class AvalaHook(RemoteTaskHook):
    """Talks to Avala's REST API."""

    declaration = PLATFORM

    @classmethod
    def platform_from_connection(cls, conn: ConnectionView) -> AvalaPlatform:
        return AvalaPlatform(avala_config(conn), client_settings=client_settings(conn))


def avala_config(conn: ConnectionView) -> AvalaConfig:
    base_url = with_port((conn.host or "").strip(), conn.port) or DEFAULT_BASE_URL
    if "://" not in base_url:
        base_url = f"https://{base_url}"
    api_key = conn.credential("API key", conn.password or conn.field("api_key"))
    if not api_key:
        raise ConfigurationError(
            f"Avala connection {conn.conn_id!r} has no API key: put it (avk_...) in the connection's API key field."
        )
    app_url = str(conn.field("app_url") or "").strip() or DEFAULT_APP_URL
    if "://" not in app_url:
        app_url = f"https://{app_url}"
    return AvalaConfig(
        base_url=base_url.rstrip("/"),
        api_key=SecretStr(api_key),
        app_url=app_url.rstrip("/"),
        status_overrides=status_overrides(conn),
    )


def status_overrides(conn: ConnectionView) -> dict[str, str]:
    """The connection's Status words: a JSON object of Avala word -> phase, checked."""
    raw = conn.field("status_map")
    if not raw:
        return {}
    try:
        table = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        table = None
    phases = [p.value for p in Phase]
    if not isinstance(table, dict) or not all(isinstance(v, str) and v in phases for v in table.values()):
        raise ConfigurationError(
            f"The Status words of connection {conn.conn_id!r} must be a JSON object of Avala status word -> "
            f'phase, the phase one of {", ".join(phases)}; e.g. {{"in_review": "running"}}.'
        )
    return {str(k): str(v) for k, v in table.items()}
