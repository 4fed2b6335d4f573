"""Julep: REST API of tasks and executions (``/tasks``, ``/executions``), bearer API key."""
