"""One package per platform, each holding that platform's whole wire protocol, its hook and its declaration.

:mod:`airflow_remote_tasks.registry` lists them; no platform imports another.
"""
