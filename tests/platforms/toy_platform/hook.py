"""Toy connections: a base URL, nothing else."""

from __future__ import annotations

from airflow_remote_tasks.hooks.base import RemoteTaskHook
from airflow_remote_tasks.hooks.connection import ConnectionView
from toy_platform import PLATFORM
from toy_platform.operations import ToyPlatform


class ToyHook(RemoteTaskHook):
    declaration = PLATFORM

    @classmethod
    def platform_from_connection(cls, conn: ConnectionView) -> ToyPlatform:
        return ToyPlatform(conn.base_url(), conn.client_settings())
