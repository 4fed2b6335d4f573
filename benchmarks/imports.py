"""DAG-parse cost: the import time of each provider's operator module on top of ``import airflow.sdk``."""

from __future__ import annotations

import statistics
import subprocess
import sys

OPERATOR_MODULES = {
    "ours": "airflow_remote_tasks.operators.remote_task",
    "databricks": "airflow.providers.databricks.operators.databricks",
    "dbt": "airflow.providers.dbt.cloud.operators.dbt",
}
# What a DAG file pays: airflow.sdk is imported by every DAG already, so only the difference counts.
PROBE = "import time, airflow.sdk; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"


def import_seconds(module: str) -> float:
    """One import in a fresh interpreter."""
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(module=module)], check=True, capture_output=True, text=True
    ).stdout
    return float(out.strip().splitlines()[-1])


def measure(runs: int) -> dict[str, dict[str, float]]:
    """Median and spread over ``runs`` fresh interpreters per module, interleaved so drift hits all alike."""
    for module in OPERATOR_MODULES.values():
        import_seconds(module)  # compile the .pyc files once; a deployed DAG parser has them
    samples: dict[str, list[float]] = {name: [] for name in OPERATOR_MODULES}
    for _ in range(runs):
        for name, module in OPERATOR_MODULES.items():
            samples[name].append(import_seconds(module))
    return {
        name: {
            "median_ms": round(statistics.median(values) * 1000, 1),
            "min_ms": round(min(values) * 1000, 1),
            "max_ms": round(max(values) * 1000, 1),
            "runs": len(values),
        }
        for name, values in samples.items()
    }
