"""Avala connections."""

from __future__ import annotations

import json

from pydantic import SecretStr

from airflow_remote_tasks.core.errors import ConfigurationError
from airflow_remote_tasks.core.phases import parse_phases
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
    """The connection's Status words: a JSON object of Avala word -> phase, checked.

    :raises ConfigurationError: not a JSON object, or a word mapped to no phase a run can be in (``unknown``
        is what a word no table maps already means, so no word is mapped to it).
    """
    raw = conn.field("status_map")
    if not raw:
        return {}
    try:
        table = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        table = None
    what = f"The Status words of connection {conn.conn_id!r}"
    example = 'e.g. {"in_review": "running"}'
    if not isinstance(table, dict):
        raise ConfigurationError(f"{what} must be a JSON object of Avala status word -> phase; {example}.")
    for word, phase in table.items():
        try:
            parse_phases([phase])  # its message lists the phases a word may be mapped to
        except ValueError as error:
            raise ConfigurationError(f"{what} map {word!r} to no phase: {error} ({example})") from None
    return {str(k): str(v) for k, v in table.items()}
