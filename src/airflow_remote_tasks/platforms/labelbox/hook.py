"""Labelbox connections."""

from __future__ import annotations

from pydantic import SecretStr

from airflow_remote_tasks.core.errors import ConfigurationError
from airflow_remote_tasks.hooks.base import ConnectionView, RemoteTaskHook, client_settings, with_port
from airflow_remote_tasks.operators.output_path import storage_path
from airflow_remote_tasks.platforms.labelbox import PLATFORM
from airflow_remote_tasks.platforms.labelbox.config import DEFAULT_APP_URL, DEFAULT_ENDPOINT, LabelboxConfig
from airflow_remote_tasks.platforms.labelbox.platform import LabelboxPlatform


class LabelboxHook(RemoteTaskHook):
    """Talks to Labelbox's GraphQL API (hosted, or a server of the same API)."""

    declaration = PLATFORM

    @classmethod
    def platform_from_connection(cls, conn: ConnectionView) -> LabelboxPlatform:
        return LabelboxPlatform(
            labelbox_config(conn),
            client_settings=client_settings(conn),
            open_uri=lambda uri: storage_path(uri, "The file").open(
                "rb"
            ),  # rows files: s3://, gs://, file://...
        )


def labelbox_config(conn: ConnectionView) -> LabelboxConfig:
    endpoint = with_port((conn.host or "").strip(), conn.port) or DEFAULT_ENDPOINT
    if "://" not in endpoint:
        endpoint = f"https://{endpoint}"
    endpoint = endpoint.rstrip("/")
    if not endpoint.endswith("/graphql"):
        endpoint += "/graphql"  # a bare host, as the app's address is often pasted
    api_key = conn.credential("API key", conn.password or conn.field("api_key"))
    if not api_key:
        raise ConfigurationError(
            f"Labelbox connection {conn.conn_id!r} has no API key: create one in Labelbox (Workspace settings > "
            "API keys) and put it in the connection's API key field."
        )
    return LabelboxConfig(
        endpoint=endpoint,
        api_key=SecretStr(api_key),
        app_url=str(conn.field("app_url") or DEFAULT_APP_URL).strip().rstrip("/"),
    )
