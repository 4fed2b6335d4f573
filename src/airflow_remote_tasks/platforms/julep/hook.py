"""Julep connections."""

from __future__ import annotations

from pydantic import SecretStr

from airflow_remote_tasks.core.errors import ConfigurationError
from airflow_remote_tasks.hooks.base import ConnectionView, RemoteTaskHook, client_settings, with_port
from airflow_remote_tasks.platforms.julep import PLATFORM
from airflow_remote_tasks.platforms.julep.config import ENVIRONMENTS, JulepConfig, check_execution_link
from airflow_remote_tasks.platforms.julep.platform import JulepPlatform


class JulepHook(RemoteTaskHook):
    """Talks to the Julep REST API (hosted production or dev, or a self-hosted server)."""

    declaration = PLATFORM

    @classmethod
    def platform_from_connection(cls, conn: ConnectionView) -> JulepPlatform:
        return JulepPlatform(julep_config(conn), client_settings=client_settings(conn))


def julep_config(conn: ConnectionView) -> JulepConfig:
    environment = str(conn.field("environment") or "production")
    host = with_port((conn.host or "").strip(), conn.port)
    if host:  # a custom base URL wins over the environment
        if "://" not in host:
            host = f"https://{host}"
        base_url = host.rstrip("/")
    elif environment in ENVIRONMENTS:
        base_url = ENVIRONMENTS[environment]
    else:
        raise ConfigurationError(
            f"Julep connection {conn.conn_id!r} uses environment {environment!r} but has no Base URL: set "
            f"Base URL, or pick one of {', '.join(ENVIRONMENTS)}."
        )
    api_key = conn.credential("API key", conn.password or conn.field("api_key"))
    if not api_key:
        raise ConfigurationError(
            f"Julep connection {conn.conn_id!r} has no API key: put it in the connection's API key field."
        )
    return JulepConfig(
        base_url=base_url,
        api_key=SecretStr(api_key),
        auth_header=str(conn.field("auth_header") or "").strip() or "Authorization",
        agent_id=conn.field("agent_id") or "",
        execution_link=check_execution_link(str(conn.field("execution_link") or ""), conn.conn_id),
    )
