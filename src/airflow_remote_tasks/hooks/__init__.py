"""Hooks: one per connection type, each in its platform's package; ``RemoteTaskHook`` is their base.

``from airflow_remote_tasks.hooks import FlyteHook`` (or any platform's hook) loads that hook on first use.
"""

from __future__ import annotations

import importlib
from typing import Any


def __getattr__(name: str) -> Any:
    from airflow_remote_tasks.platforms import BY_HOOK_CLASS

    declaration = BY_HOOK_CLASS.get(name)
    if declaration is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(declaration.hook_module), name)
