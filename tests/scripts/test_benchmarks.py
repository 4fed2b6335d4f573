"""The benchmark harness keeps working (a smoke run: N=50, seconds) and its server answers like the platforms.

No timing is asserted here: figures come from ``make bench`` and are compared within one run.
"""

from __future__ import annotations

import json
import struct
import time

import pytest
from benchmarks import run
from benchmarks.server import (
    DATABRICKS_PATH,
    FLYTE_LIST_PATH,
    FLYTE_PATH,
    FLYTE_WATCH_PATH,
    STREAMED_PROJECT,
    BenchServer,
    run_id_for,
    run_name_for,
)
from flyteidl2.workflow import run_service_pb2 as rs
from google.protobuf import json_format

from airflow_remote_tasks.core.phases import Phase
from airflow_remote_tasks.platforms.flyte.runs import parse_action_status

pytestmark = pytest.mark.timeout(600)


def test_smoke_run_writes_a_report(tmp_path):
    # runs end 0.6-2.4 s after the start, polled every 0.2 s; over TLS, the transport every provider takes part
    # in (plain HTTP is the same harness without the certificate)
    argv = [
        "--mode",
        "harness",  # the real-triggerer mode has its own smoke test (test_benchmarks_triggerer.py)
        "--n",
        "50",
        "--scale",
        "0.02",
        "--import-runs",
        "1",
        "--transports",
        "tls",
        "--providers",
        "ours,ours-stream,databricks,dbt",  # ours polling, and ours on the project the bench server streams
        "--out",
        str(tmp_path),
    ]
    report = run.main(argv)

    waits = {(w["transport"], w["provider"]): w for w in report["waits"]}
    assert set(waits) == {("tls", "ours"), ("tls", "ours-stream"), ("tls", "databricks"), ("tls", "dbt")}
    for key, wait in waits.items():
        assert "error" not in wait, (key, wait)
        assert wait["completed"] == 50, key
        assert wait["polls_per_wait"] >= 1 and wait["connections"] >= 1, key
    # each streamed wait's first read (batched), then nothing but the stream, which ends every wait
    assert waits["tls", "ours-stream"]["polls"] == 50, waits["tls", "ours-stream"]
    assert waits["tls", "ours"]["polls_per_wait"] > 1, waits["tls", "ours"]
    # every wait reads each run at least once; the anchors make one call per read
    for provider in ("databricks", "dbt"):
        assert waits["tls", provider]["calls"] == waits["tls", provider]["polls"]
    assert {row["transport"] for row in report["comparisons"]} == {"tls"}
    assert set(report["imports"]) == {"ours", "databricks", "dbt"}
    assert all(figures["median_ms"] > 0 for figures in report["imports"].values())
    assert report["targets"]
    saved = json.loads((tmp_path / "report.json").read_text())
    assert saved["waits"] == report["waits"]
    markdown = (tmp_path / "report.md").read_text()
    assert "| tls | 50 | ours | 50 |" in markdown and "| tls | 50 | ours-stream | 50 |" in markdown
    assert "Targets:" in markdown


def test_the_bench_server_streams_only_its_streamed_project():
    server = BenchServer()
    asked = {"projectId": {"organization": "bench", "name": STREAMED_PROJECT, "domain": "development"}}
    envelope = json.dumps(asked).encode()
    assert server.watches(FLYTE_WATCH_PATH, struct.pack(">BI", 0, len(envelope)) + envelope)
    other = json.dumps({"projectId": {**asked["projectId"], "name": "flytesnacks"}}).encode()
    assert not server.watches(FLYTE_WATCH_PATH, struct.pack(">BI", 0, len(other)) + other)
    status, _ = server.answer("POST", FLYTE_WATCH_PATH, other)
    assert status == 404  # refused: that project's waits poll


def test_the_bench_server_answers_as_flyte_databricks_and_dbt_do():
    server = BenchServer()
    ended, running = time.time() - 1, time.time() + 600
    names = [run_name_for(0, ended), run_name_for(1, running)]

    status, body = server.answer("POST", FLYTE_PATH, json.dumps({"runId": {"name": names[0]}}).encode())
    details = json_format.Parse(body, rs.GetRunDetailsResponse())  # strict: unknown fields fail
    assert status == 200 and details.details.action.id.run.name == names[0]
    action = json_format.MessageToDict(details)["details"]["action"]
    assert parse_action_status(action).phase is Phase.SUCCEEDED

    listing_request = {
        "request": {"filters": [{"function": "VALUE_IN", "field": "run_name", "values": names}]}
    }
    status, body = server.answer("POST", FLYTE_LIST_PATH, json.dumps(listing_request).encode())
    listed = json_format.MessageToDict(json_format.Parse(body, rs.ListRunsResponse()))["runs"]
    assert [parse_action_status(r["action"]).phase for r in listed] == [Phase.SUCCEEDED, Phase.RUNNING]
    assert server.reads == 3 and server.calls["flyte"] == 2

    from airflow.providers.databricks.hooks.databricks import RunState

    _, body = server.answer("GET", DATABRICKS_PATH, json.dumps({"run_id": run_id_for(2, running)}).encode())
    assert not RunState(**json.loads(body)["state"]).is_terminal
    _, body = server.answer("GET", f"/api/v2/accounts/7/runs/{run_id_for(3, ended)}/", b"")
    assert json.loads(body)["data"]["status"] == 10  # dbt Cloud's "success"
