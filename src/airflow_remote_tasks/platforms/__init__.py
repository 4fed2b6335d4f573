"""One package per platform, each holding that platform's whole wire protocol, its hook and its declaration.

This registry is the one place that lists them; everything else is derived from it.
"""

from __future__ import annotations

from airflow_remote_tasks.core.declaration import PlatformDeclaration
from airflow_remote_tasks.platforms.avala import PLATFORM as AVALA
from airflow_remote_tasks.platforms.flyte import PLATFORM as FLYTE
from airflow_remote_tasks.platforms.julep import PLATFORM as JULEP
from airflow_remote_tasks.platforms.labelbox import PLATFORM as LABELBOX

PLATFORMS: dict[str, PlatformDeclaration] = {p.name: p for p in (FLYTE, JULEP, LABELBOX, AVALA)}
BY_CONN_TYPE: dict[str, PlatformDeclaration] = {p.conn_type: p for p in PLATFORMS.values()}
BY_HOOK_CLASS: dict[str, PlatformDeclaration] = {p.hook_class_name: p for p in PLATFORMS.values()}
