"""The Labelbox emulator serves a 1,000,000-row export with bounded memory: rows are made from their index as
the export file is read, not held in lists.

The emulator runs in a process of its own; its peak resident memory (VmHWM in /proc) is read after the whole
export was streamed, and the time from the export's start to the first byte of its file is measured (the task
is made to finish at once, so what is timed is the emulator's own work). Figures are printed.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from airflow_remote_tasks.platforms.labelbox import queries

ROWS = 1_000_000
MAX_RSS_MB = 300
MAX_FIRST_BYTE_SECONDS = 2.0
DATASET = "ckds000000000000000000001"


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM in /proc/<pid>/status")


@pytest.fixture
def million_rows():
    if not Path("/proc/self/status").exists():
        pytest.skip("reads peak memory from /proc")
    command = [sys.executable, "-m", "airflow_remote_tasks.cli", "emulator", "labelbox", "--rows", str(ROWS)]
    command += ["--task-seconds", "0", "--chunk-bytes", str(8 << 20)]
    started = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        url = process.stdout.readline().strip()  # type: ignore[union-attr]
        yield process, url, time.monotonic() - started
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_a_million_row_export_is_served_lazily(million_rows, capsys):
    process, url, startup = million_rows
    with httpx.Client(headers={"Authorization": "Bearer any-key"}, timeout=60) as client:

        def graphql(query: str, variables: dict) -> dict:
            answer = client.post(url, json={"query": query, "variables": variables}).json()
            assert not answer.get("errors"), answer
            return answer["data"]

        export = {
            "taskName": "million",
            "filters": {
                "searchQuery": {
                    "scope": None,
                    "query": [{"ids": [DATASET], "operator": "is", "type": "dataset"}],
                }
            },
            "params": {},
            "streamable": True,
        }
        began = time.monotonic()
        task = graphql(queries.EXPORT_CATALOG, {"input": export})["exportDataRowsInCatalog"]["taskId"]
        where = {"where": {"id": task}, "streamType": "RESULT"}
        header = graphql(queries.EXPORT_HEADER, where)["task"]["exportMetadataHeader"]
        part = graphql(queries.EXPORT_FILE, {**where, "offset": "0"})["task"]["exportFileFromOffset"]
        with client.stream("GET", part["file"]) as response:
            pieces = response.iter_bytes()
            first = next(pieces)
            first_byte = time.monotonic() - began
            received = len(first) + sum(len(data) for data in pieces)
        offset, lines = int(part["offsets"]["end"]) + 1, int(part["lines"]["end"]) + 1
        while offset < header["totalSize"]:  # the rest of the export, so the peak covers serving all of it
            part = graphql(queries.EXPORT_FILE, {**where, "offset": str(offset)})["task"][
                "exportFileFromOffset"
            ]
            received += len(client.get(part["file"]).content)
            offset, lines = int(part["offsets"]["end"]) + 1, int(part["lines"]["end"]) + 1
        served = time.monotonic() - began
    rss = peak_rss_mb(process.pid)
    assert first.startswith(b'{"data_row":{"id":"ckdr000001000000000000"')
    assert header["totalLines"] == lines == ROWS and received == header["totalSize"]
    with capsys.disabled():
        print(
            f"\n{ROWS:,}-row export on the emulator: started in {startup:.1f} s; first byte {first_byte:.2f} s "
            f"after the export began; {received / 2**20:.0f} MiB served in {served:.1f} s; emulator peak RSS "
            f"{rss:.0f} MiB"
        )
    assert rss < MAX_RSS_MB, f"the emulator's peak RSS was {rss:.0f} MiB"
    assert first_byte < MAX_FIRST_BYTE_SECONDS, (
        f"the first byte came {first_byte:.2f} s after the export began"
    )


@pytest.mark.parametrize(
    "query",
    [
        [],
        [{"type": "task_queue_status", "status": "Done"}],
        [{"type": "task_queue_not_exist"}],
        [{"type": "task_queue_status", "status": "InReview"}],
        [{"ids": ["000001-7", "000001-200", "nope"], "operator": "is", "type": "global_key"}],
    ],
)
@pytest.mark.parametrize("project", [None, "ckproj0000000000000000001"])
def test_a_lazy_export_holds_the_bytes_a_row_by_row_one_would(project, query):
    """Against the plain way: every row of the dataset made and filtered one by one. Rows cross the points
    where the lines' sizes change (10 and 100 rows, the seeded labels' end), some are changed since seeding
    (the first one too: renamed, labelled), one is created."""
    from airflow_remote_tasks.emulators.labelbox.exports import build, export_line
    from airflow_remote_tasks.emulators.labelbox.state import LabelboxState

    state = LabelboxState(rows=150)
    state.add_rows(DATASET, 100)  # seeded after the project: not labelled
    state.upsert(
        [
            {
                "id": {"type": "GKEY", "value": "000001-0"},
                "payload": {"external_id": "y", "dataset_id": DATASET},
            },
            {
                "id": {"type": "GKEY", "value": "000001-7"},
                "payload": {"external_id": "x", "dataset_id": DATASET},
            },
            {
                "id": {"type": "GKEY", "value": "000001-10"},
                "payload": {"row_data": "r", "dataset_id": DATASET},
            },
            {
                "id": {"type": "AUTO", "value": ""},
                "payload": {"row_data": "n", "global_key": "n", "dataset_id": DATASET},
            },
        ]
    )
    state.labels[("ckproj0000000000000000001", "ckdr000001000000000099")] = [{"id": "imported"}]
    state.labels[("ckproj0000000000000000001", "ckdr000001000000000042")] = [{"id": "imported-too"}]
    filters = {"searchQuery": {"query": query}}
    stream = build(state, project, DATASET, filters)
    status = next((q.get("status") for q in query if "status" in q), None)
    to_label = any(q["type"] == "task_queue_not_exist" for q in query)
    keys = next((set(q["ids"]) for q in query if q["type"] == "global_key"), None)
    expected = b""
    for row_id in state.rows_of(DATASET):
        row = state.row(row_id)
        assert row is not None
        done = project is not None and bool(state.labels_of(project, row))
        if keys is not None and row["global_key"] not in keys:
            continue
        if project is not None and (
            status in ("InReview", "InRework") or (status == "Done" and not done) or (to_label and done)
        ):
            continue
        expected += export_line(state, project, row)
    assert stream.read(0, stream.size - 1) == expected
    assert stream.lines == expected.count(b"\n") and stream.size == len(expected)
    if stream.size:  # any range, as a file URL asks for it
        middle = stream.size // 3
        assert stream.read(middle, middle + 500) == expected[middle : middle + 501]
        assert stream.line_end(middle) == expected.index(b"\n", middle)
