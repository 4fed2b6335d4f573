"""Julep connections."""

from __future__ import annotations

from pydantic import SecretStr

from airflow_remote_tasks.core.errors import ConfigurationError
from airflow_remote_tasks.hooks.base import RemoteTaskHook
from airflow_remote_tasks.hooks.connection import ConnectionView
from airflow_remote_tasks.platforms.julep import PLATFORM
from airflow_remote_tasks.platforms.julep.config import ENVIRONMENTS, JulepConfig, check_execution_link
from airflow_remote_tasks.platforms.julep.platform import JulepPlatform


class JulepHook(RemoteTaskHook):
    """Talks to the Julep REST API (hosted production or dev, or a self-hosted server)."""

    declaration = PLATFORM

    @classmethod
    def platform_from_connection(cls, conn: ConnectionView) -> JulepPlatform:
        return JulepPlatform(julep_config(conn), client_settings=conn.client_settings())


def julep_config(conn: ConnectionView) -> JulepConfig:
    environment = str(conn.field("environment"))
    base_url = conn.base_url() or ENVIRONMENTS.get(environment)  # a custom base URL wins over the environment
    if not base_url:
        raise ConfigurationError(
            f"Julep connection {conn.conn_id!r} uses environment {environment!r} but has no Base URL: set "
            f"Base URL, or pick one of {', '.join(ENVIRONMENTS)}."
        )
    return JulepConfig(
        base_url=base_url,
        api_key=SecretStr(conn.required_key()),
        auth_header=conn.text("auth_header") or PLATFORM.default("auth_header"),
        agent_id=conn.field("agent_id") or "",
        execution_link=check_execution_link(conn.text("execution_link"), conn.conn_id),
    )
