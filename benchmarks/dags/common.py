"""What the three benchmark DAGs share: the tags task, the poll interval and the connection ids.

A run's conf names its batch and N (``{"batch": "ours-1000", "n": 1000}``); the ``tags`` task gives the mapped
task one tag per index, ``<batch>/<index>``, which the operator sends with its submit call so the bench server
can hold the run and tell its end by index (``benchmarks.held``).
"""

from __future__ import annotations

import os
from typing import Any

from airflow.sdk import task

# Every provider polls at the same interval; the harness sets it (10 s, the harness mode's timeline).
POLL_SECONDS = float(os.environ.get("REMOTE_TASKS_BENCH_POLL", "10"))
# A wait far longer than any run of the benchmark: no provider's own deadline ends a wait early.
WAIT_LIMIT_SECONDS = 86400


@task
def tags(label: str = "", **context: Any) -> list[Any]:
    """One tag per mapped task; with ``label``, each as ``{label: tag}`` (ours sends it as a run label)."""
    conf = context["dag_run"].conf
    tagged = [f"{conf['batch']}/{index}" for index in range(int(conf["n"]))]
    return [{label: tag} for tag in tagged] if label else tagged
