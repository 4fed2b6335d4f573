"""Labelbox connections."""

from __future__ import annotations

from pydantic import SecretStr

from airflow_remote_tasks.core.storage import storage_path
from airflow_remote_tasks.hooks.base import RemoteTaskHook
from airflow_remote_tasks.hooks.connection import ConnectionView
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
            client_settings=conn.client_settings(),
            open_uri=lambda uri: storage_path(uri, "The file").open(
                "rb"
            ),  # rows files: s3://, gs://, file://...
        )


def labelbox_config(conn: ConnectionView) -> LabelboxConfig:
    endpoint = conn.base_url(DEFAULT_ENDPOINT)
    if not endpoint.endswith("/graphql"):
        endpoint += "/graphql"  # a bare host, as the app's address is often pasted
    return LabelboxConfig(
        endpoint=endpoint,
        api_key=SecretStr(
            conn.required_key("create one in Labelbox (Workspace settings > API keys) and put it")
        ),
        app_url=str(conn.field("app_url") or DEFAULT_APP_URL).strip().rstrip("/"),
    )
