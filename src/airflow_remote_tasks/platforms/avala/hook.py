"""Avala connections."""

from __future__ import annotations

import json

from pydantic import SecretStr

from airflow_remote_tasks.core.errors import ConfigurationError
from airflow_remote_tasks.core.phases import parse_phases
from airflow_remote_tasks.hooks.base import RemoteTaskHook
from airflow_remote_tasks.hooks.connection import ConnectionView
from airflow_remote_tasks.platforms.avala import PLATFORM
from airflow_remote_tasks.platforms.avala.config import DEFAULT_APP_URL, DEFAULT_BASE_URL, AvalaConfig
from airflow_remote_tasks.platforms.avala.platform import AvalaPlatform


class AvalaHook(RemoteTaskHook):
    """Talks to Avala's REST API."""

    declaration = PLATFORM

    @classmethod
    def platform_from_connection(cls, conn: ConnectionView) -> AvalaPlatform:
        return AvalaPlatform(avala_config(conn), client_settings=conn.client_settings())


def avala_config(conn: ConnectionView) -> AvalaConfig:
    return AvalaConfig(
        base_url=conn.base_url(DEFAULT_BASE_URL),
        api_key=SecretStr(conn.required_key("put it (avk_...)")),
        app_url=url_of(conn.text("app_url") or DEFAULT_APP_URL),
        status_overrides=status_overrides(conn),
    )


def url_of(text: str) -> str:
    """``text`` with ``https://`` when it names no scheme, and no trailing slash."""
    return (text if "://" in text else f"https://{text}").rstrip("/")


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
