"""The platforms this provider knows, and every lookup of a platform: by name, connection type, hook class.

It stands above hooks and platforms (nothing in core/, hooks/ or platforms/ imports it): the Airflow surface
(operators, sensors, triggers, provider info, the CLI, the package's public names) finds a platform here.
Adding a platform is its package (its ``PLATFORM`` declaration) and one line in :data:`DECLARATIONS`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from airflow_remote_tasks.core.declaration import PlatformDeclaration
from airflow_remote_tasks.platforms.avala import PLATFORM as AVALA
from airflow_remote_tasks.platforms.flyte import PLATFORM as FLYTE
from airflow_remote_tasks.platforms.julep import PLATFORM as JULEP
from airflow_remote_tasks.platforms.labelbox import PLATFORM as LABELBOX

if TYPE_CHECKING:  # the hooks import Airflow's SDK: provider info reads this module before Airflow is ready
    from airflow_remote_tasks.core.platform import Platform
    from airflow_remote_tasks.hooks.base import RemoteTaskHook

# In the order provider info lists them. Lookups read it on every call (four entries), so nothing derived
# from it can go stale.
DECLARATIONS: tuple[PlatformDeclaration, ...] = (FLYTE, JULEP, LABELBOX, AVALA)


def by_platform_name(platform_name: str) -> PlatformDeclaration | None:
    return next((d for d in DECLARATIONS if d.name == platform_name), None)


def by_conn_type(conn_type: str) -> PlatformDeclaration | None:
    return next((d for d in DECLARATIONS if d.conn_type == conn_type), None)


def by_hook_class_name(class_name: str) -> PlatformDeclaration | None:
    return next((d for d in DECLARATIONS if d.hook_class_name == class_name), None)


def hook_class(declaration: PlatformDeclaration) -> type[RemoteTaskHook]:
    """The platform's hook class, imported on first use."""
    cls: type[RemoteTaskHook] = getattr(
        importlib.import_module(declaration.hook_module), declaration.hook_class_name
    )
    return cls


def declaration_named(platform_name: str) -> PlatformDeclaration:
    """:raises ConfigurationError: for a platform name this provider does not know, listing the known ones."""
    from airflow_remote_tasks.core.errors import ConfigurationError

    declaration = by_platform_name(platform_name)
    if declaration is None:
        known = ", ".join(d.name for d in DECLARATIONS)
        raise ConfigurationError(f"Unknown platform {platform_name!r}; known: {known}.")
    return declaration


def declaration_of_connection(conn_id: str, conn_type: str | None) -> PlatformDeclaration:
    """The platform of a connection of type ``conn_type``.

    :raises ConfigurationError: for a type this provider does not handle, naming the types it does.
    """
    from airflow_remote_tasks.core.errors import ConfigurationError

    declaration = by_conn_type(conn_type or "")
    if declaration is None:
        raise ConfigurationError(
            f"Connection {conn_id!r} has type {conn_type!r}, which this provider does not handle. "
            f"Use a connection of type {', '.join(repr(d.conn_type) for d in DECLARATIONS)}."
        )
    return declaration


def platform_class(declaration: PlatformDeclaration) -> type[Platform]:
    """The platform's class (its operations), imported on first use."""
    module, _, name = declaration.platform.rpartition(".")
    cls: type[Platform] = getattr(importlib.import_module(module), name)
    return cls


def hook_for_platform(platform_name: str, conn_id: str) -> RemoteTaskHook:
    """The hook of the platform a run reference or trigger names.

    :raises ConfigurationError: for a platform name this provider does not know, listing the known ones.
    """
    return hook_class(declaration_named(platform_name))(conn_id)


def hook_for_connection(conn_id: str) -> RemoteTaskHook:
    """The hook that fits a connection's type, its platform built from the connection read here.

    :raises ConfigurationError: the connection is not defined, or is of a type this provider does not handle
        (naming the types it does), or the platform refuses its fields.
    """
    from airflow_remote_tasks.hooks.connection_reads import get_connection

    conn = get_connection(conn_id)
    declaration = declaration_of_connection(conn_id, conn.conn_type)
    hook = hook_class(declaration)(conn_id)
    hook.use_connection(conn)
    return hook


class UsesRemoteHook:
    """For operators and sensors: the hook for ``conn_id``, resolved from the connection's type on first use."""

    conn_id: str
    _hook: RemoteTaskHook | None = None

    @property
    def hook(self) -> RemoteTaskHook:
        if self._hook is None:
            self._hook = hook_for_connection(self.conn_id)
        return self._hook
