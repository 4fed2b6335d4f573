"""Hooks: one per connection type, each in its platform's package; ``RemoteTaskHook`` is their base.

``from airflow_remote_tasks import FlyteHook`` (or any platform's hook) loads that hook on first use; the
registry (above the hooks) knows which module holds it.
"""
