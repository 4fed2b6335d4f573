"""Hooks: one per connection type. Each turns a connection into a configured platform and runs operations."""

from __future__ import annotations

# Connection type -> hook class path. Names carry the provider's prefix so they cannot collide with
# other providers (flyteorg's own provider registers plain "flyte").
HOOKS_BY_CONN_TYPE = {
    "remote_tasks_flyte": "airflow_remote_tasks.hooks.flyte.FlyteHook",
    "remote_tasks_julep": "airflow_remote_tasks.hooks.julep.JulepHook",
}
HOOKS_BY_PLATFORM = {
    "flyte": "airflow_remote_tasks.hooks.flyte.FlyteHook",
    "julep": "airflow_remote_tasks.hooks.julep.JulepHook",
}
