"""A 200,000-row export streamed to storage by a real dag.test(): the worker's memory stays bounded.

The emulator runs in a process of its own, so that what is measured here is the worker's side only:
the peak of Python allocations (tracemalloc) while the DAG runs, against the size of the export. Figures are
printed, and the bound asserted is loose (a third of the export): holding the export would cross it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tracemalloc

import pytest

from airflow_helpers import run_dag

pytestmark = [pytest.mark.airflow, pytest.mark.usefixtures("airflow_db")]
ROWS = 200_000


@pytest.fixture
def big_labelbox():
    command = [sys.executable, "-m", "airflow_remote_tasks.cli", "emulator", "labelbox", "--rows", str(ROWS)]
    command += ["--task-seconds", "0.5", "--chunk-bytes", str(4 << 20)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        url = process.stdout.readline().strip()  # type: ignore[union-attr]
        conn = {"conn_type": "remote_tasks_labelbox", "host": url, "password": "any-key"}
        os.environ["AIRFLOW_CONN_LABELBOX_DEFAULT"] = json.dumps(conn)
        yield url
    finally:
        os.environ.pop("AIRFLOW_CONN_LABELBOX_DEFAULT", None)
        process.terminate()
        process.wait(timeout=10)


def test_a_200k_row_export_streams_with_bounded_memory(big_labelbox, tmp_path, capsys):
    # A first run imports what a worker imports once (Airflow's task runner, fsspec...): not the export's cost.
    assert run_dag("lb_export_dataset", conf={"out": f"file://{tmp_path}/warm-up.ndjson"}).state == "success"
    target = tmp_path / "catalog.ndjson"
    tracemalloc.start()
    try:
        result = run_dag("lb_export_dataset", conf={"out": f"file://{target}"})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.state == "success"
    summary = result.xcom("collect")
    size = target.stat().st_size
    assert summary["rows"] == ROWS and summary["bytes"] == size
    with target.open("rb") as rows:
        assert sum(1 for _ in rows) == ROWS
    with capsys.disabled():
        print(
            f"\n200,000-row export: {size / 2**20:.1f} MiB streamed to storage; peak of the worker's Python "
            f"allocations during the DAG run {peak / 2**20:.1f} MiB"
        )
    assert peak < size / 3, "the worker held a large share of the export in memory"
