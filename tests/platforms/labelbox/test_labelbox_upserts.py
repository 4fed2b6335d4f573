"""Labelbox upserts as the SDK makes them: global keys looked up first, existing rows keyed (GKEY), new ones
created (AUTO with global_key); a retry after a lost answer creates nothing twice. The emulator's answer to a
GKEY spec naming no row is a guess, so every test runs against both answers."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import fsspec
import httpx
import pytest
from fsspec.implementations.memory import MemoryFileSystem

from airflow_helpers import run_dag
from airflow_remote_tasks.platforms.labelbox.jobs import DataRow

pytestmark = [pytest.mark.airflow, pytest.mark.usefixtures("airflow_db")]
DATASET = "ckds000000000000000000001"


@pytest.fixture(params=[False, True], ids=["gkey-unknown-refused", "gkey-unknown-created"])
def answer_to_unknown_gkey(request, labelbox):
    httpx.post(f"{labelbox.server.url}/_emulator/upserts", json={"gkey_creates": request.param})
    return request.param


def sent_items(labelbox) -> list[dict]:
    """The items of every upsert chunk uploaded, in order."""
    state = labelbox.emulator.state
    items = []
    for operation in labelbox.emulator.operations:
        if operation["query"].startswith("mutation UpsertDataRowsPyApi"):
            manifest = json.loads(state.uploads[operation["variables"]["manifestUri"].rsplit("/", 1)[1]])
            for uri in manifest["chunk_uris"]:
                items += json.loads(state.uploads[uri.rsplit("/", 1)[1]])
    return items


def test_a_row_is_keyed_only_when_its_global_key_names_a_row():
    row = DataRow(global_key="k", row_data="https://x/1.jpg")
    assert row.item("ds", existing=False) == {
        "id": {"type": "AUTO", "value": ""},
        "payload": {"global_key": "k", "row_data": "https://x/1.jpg", "dataset_id": "ds"},
    }
    assert row.item("ds", existing=True)["id"] == {"type": "GKEY", "value": "k"}
    assert DataRow(id="ckdr1").item("ds", existing=False)["id"] == {"type": "ID", "value": "ckdr1"}


def test_new_rows_are_created_and_existing_ones_keyed(labelbox, answer_to_unknown_gkey):
    state = labelbox.emulator.state
    before = state.row_count(DATASET)
    result = run_dag("lb_upsert_inline")
    assert result.state == "success"
    assert result.xcom("collect")["succeeded"] == 3 and result.xcom("collect")["failed"] == 0
    assert state.row_count(DATASET) == before + 2
    names = [o["query"].split("(")[0].split()[-1] for o in labelbox.emulator.operations]
    assert names.index("getDataRowsForGlobalKeysPyApi") < names.index("UpsertDataRowsPyApi")
    keys = {item["payload"].get("global_key"): item["id"] for item in sent_items(labelbox)}
    assert keys == {
        "new-1": {"type": "AUTO", "value": ""},
        "new-2": {"type": "AUTO", "value": ""},
        "000001-0": {"type": "GKEY", "value": "000001-0"},
    }
    again = run_dag("lb_upsert_inline")  # the same rows again: all keyed now, nothing created
    assert again.xcom("collect") == {**again.xcom("collect"), "succeeded": 3, "failed": 0}
    assert state.row_count(DATASET) == before + 2
    assert all(item["id"]["type"] == "GKEY" for item in sent_items(labelbox)[3:])


def test_a_retry_after_a_lost_answer_creates_no_row_twice(labelbox, answer_to_unknown_gkey):
    state = labelbox.emulator.state
    before = state.row_count(DATASET)
    httpx.post(f"{labelbox.server.url}/_emulator/lose-answer", json={"operation": "UpsertDataRowsPyApi"})
    result = run_dag("lb_upsert_inline")
    assert result.state == "success"
    outcome = result.xcom("collect")
    assert outcome["succeeded"] == 3 and outcome["failed"] == 0, outcome["failures"]
    assert state.row_count(DATASET) == before + 2  # the lost attempt's two rows, not four
    keys = [r["global_key"] for r in state.data_rows.values()]
    assert sorted(keys) == ["000001-0", "new-1", "new-2"]
    upserts = [t for t in labelbox.tasks if t["type"] == "adv-upsert-data-rows"]
    assert len(upserts) == 2  # the lost one, and the one started after looking the keys up again
    assert [i["id"]["type"] for i in sent_items(labelbox)[3:]] == ["GKEY", "GKEY", "GKEY"]
    lookups = [o for o in labelbox.emulator.operations if "getDataRowsForGlobalKeysPyApi" in o["query"]]
    assert len(lookups) == 2


def test_a_lookup_still_running_is_read_again_and_the_log_calls_nothing_a_failure(labelbox, capfd, caplog):
    labelbox.emulator.state.lookup_reads = 2  # answers IN_PROGRESS twice
    with caplog.at_level(logging.DEBUG, logger="airflow_remote_tasks"):
        result = run_dag("lb_upsert_inline")
    assert result.state == "success" and result.xcom("collect")["succeeded"] == 3
    reads = [o for o in labelbox.emulator.operations if "getDataRowsForGlobalKeysResultPyApi" in o["query"]]
    assert len(reads) == 3
    out = capfd.readouterr()
    log = caplog.text + out.out + out.err
    # Nothing failed: the job was not done yet. Those reads are no retries of a failure, and not logged as one.
    assert "failed (HTTP" not in log and "retrying" not in log, log
    assert not [r for r in caplog.records if r.name == "airflow_remote_tasks.core.retry"]


def test_a_lookup_that_never_finishes_starts_nothing_and_says_so(labelbox, monkeypatch, capfd):
    from airflow_remote_tasks.platforms.labelbox import upserts

    monkeypatch.setattr(upserts, "LOOKUP_PAUSES", (0.1, 0.2))
    labelbox.emulator.state.lookup_reads = 1000
    result = run_dag("lb_upsert_inline")
    assert result.task_state("remote") == "failed"
    out = capfd.readouterr()
    assert "lookup of 3 global keys" in out.out + out.err
    assert (
        "had not finished after 3 reads, 0.3s apart in all (IN_PROGRESS); no row was sent"
        in out.out + out.err
    )
    reads = [o for o in labelbox.emulator.operations if "getDataRowsForGlobalKeysResultPyApi" in o["query"]]
    assert len(reads) == 3  # the pauses' reads, no retries on top
    assert not [t for t in labelbox.tasks if t["type"] == "adv-upsert-data-rows"]


@pytest.mark.parametrize(("flag", "created"), [([], False), (["--gkey-creates"], True)])
def test_the_emulator_command_takes_the_answer_to_the_open_question(flag, created):
    import argparse

    from airflow_remote_tasks.emulators.labelbox import command

    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    app, _, _ = command.build(parser.parse_args(flag))
    state = app.control.__self__.state  # the emulator behind the app's control routes
    item = {"id": {"type": "GKEY", "value": "unknown"}, "payload": {"row_data": "r", "dataset_id": DATASET}}
    done, refused = state.upsert([item])
    assert (len(done), len(refused)) == ((1, 0) if created else (0, 1))


def test_the_lookup_with_canned_answers_batches_keys_and_names_a_failed_job(monkeypatch):
    from pydantic import SecretStr

    from airflow_remote_tasks.core.errors import ApiError
    from airflow_remote_tasks.core.operation import HttpResponse
    from airflow_remote_tasks.platforms.labelbox import upserts
    from airflow_remote_tasks.platforms.labelbox.config import LabelboxConfig

    def graphql_data(data: object) -> HttpResponse:
        return HttpResponse(200, {"content-type": "application/json"}, json.dumps({"data": data}).encode())

    def result(status: str, missing: list[str]) -> HttpResponse:
        data = {"fetchedDataRows": [], "notFoundGlobalKeys": missing, "accessDeniedGlobalKeys": []}
        return graphql_data({"dataRowsForGlobalKeysResult": {"data": data, "jobStatus": status}})

    monkeypatch.setattr(upserts, "LOOKUP_BATCH", 2)
    config = LabelboxConfig(endpoint="https://lb.example/graphql", api_key=SecretStr("k"))
    operation = upserts.existing_keys(config, ["a", "b", "a", "c"])
    requests = [next(operation)]
    for reply in (
        graphql_data({"dataRowsForGlobalKeys": {"jobId": "j1"}}),
        result("IN_PROGRESS", []),  # read again, after a pause
        result("COMPLETE", ["b"]),
        graphql_data({"dataRowsForGlobalKeys": {"jobId": "j2"}}),
    ):
        requests.append(operation.send(reply))
    sent = [json.loads(r.content or b"") for r in requests]
    assert [r.pause for r in requests] == [0.0, 0.0, upserts.LOOKUP_PAUSES[0], 0.0, 0.0]
    assert [s["variables"] for s in sent] == [
        {"globalKeys": ["a", "b"]},  # each key once, in batches
        {"jobId": "j1"},
        {"jobId": "j1"},
        {"globalKeys": ["c"]},
        {"jobId": "j2"},
    ]
    with pytest.raises(StopIteration) as done:
        operation.send(result("COMPLETE", []))
    assert done.value.value == {"a", "c"}
    failing = upserts.existing_keys(config, ["a"])
    next(failing)
    failing.send(graphql_data({"dataRowsForGlobalKeys": {"jobId": "j3"}}))
    with pytest.raises(
        ApiError, match=r"lookup of 1 global keys \(job j3\) failed; no row was sent"
    ) as raised:
        failing.send(result("FAILED", []))
    assert raised.value.retryable


@pytest.mark.parametrize("executor", ["worker", "triggerer"])
def test_a_running_lookup_is_read_again_after_its_pauses_by_either_executor(labelbox, executor):
    import asyncio
    import time

    from airflow_remote_tasks.platforms.labelbox import upserts
    from airflow_remote_tasks.platforms.labelbox.hook import LabelboxHook

    labelbox.emulator.state.lookup_reads = 2  # answers IN_PROGRESS twice: two pauses before the third read
    hook = LabelboxHook("labelbox_default")
    operation = upserts.existing_keys(hook.platform.config, ["000001-0", "nobody-has-this-key"])
    started = time.monotonic()
    found = hook.run(operation) if executor == "worker" else asyncio.run(hook.arun(operation))
    assert time.monotonic() - started >= sum(upserts.LOOKUP_PAUSES[:2])
    assert found == {"000001-0"}


# -- a rows file is read once ----------------------------------------------------------------------------


class CountingFileSystem(MemoryFileSystem):
    """An in-memory store that records every opening of a file for reading."""

    protocol = ("countmem",)
    store: dict[str, Any] = {}  # fsspec's memory filesystem keeps files on the class
    pseudo_dirs = [""]
    reads: list[str] = []

    @classmethod
    def _strip_protocol(cls, path: str) -> str:
        return str(super()._strip_protocol(path.removeprefix("countmem://")))

    def _open(self, path: str, mode: str = "rb", **kwargs: Any) -> Any:
        if "r" in mode:
            self.reads.append(path)
        return super()._open(path, mode, **kwargs)


@pytest.fixture
def counting_store() -> Iterator[type[CountingFileSystem]]:
    from airflow.sdk.io import store

    fsspec.register_implementation("countmem", CountingFileSystem, clobber=True)
    store.attach("countmem", fs=CountingFileSystem())
    CountingFileSystem.store.clear()
    CountingFileSystem.reads.clear()
    try:
        yield CountingFileSystem
    finally:
        CountingFileSystem.store.clear()
        store._STORE_CACHE.pop("countmem", None)


@pytest.mark.filterwarnings("ignore:UPath 'countmem' filesystem not explicitly implemented")
def test_a_rows_file_on_object_storage_is_read_once(labelbox, counting_store, monkeypatch):
    from airflow_remote_tasks.platforms.labelbox import upserts

    monkeypatch.setattr(upserts, "UPSERT_CHUNK_BYTES", 1_000)  # several chunks from a small file
    rows = [{"global_key": f"file-{i}", "row_data": f"https://x/{i}.jpg"} for i in range(40)]
    rows.append({"global_key": "000001-0", "external_id": "renamed-0.jpg"})  # an existing row
    counting_store().pipe_file("/bucket/rows.ndjson", "".join(json.dumps(r) + "\n" for r in rows).encode())
    result = run_dag("lb_upsert_file", conf={"rows": "countmem://bucket/rows.ndjson"})
    assert result.state == "success"
    assert result.xcom("collect") == {**result.xcom("collect"), "succeeded": 41, "failed": 0, "failures": []}
    assert counting_store.reads == [
        "/bucket/rows.ndjson"
    ]  # checked, keys collected and uploaded from one read
    chunks = [o for o in labelbox.emulator.operations if "UploadFile" in o["query"]]
    assert len(chunks) >= 5  # the rows in several chunks, then the manifest
    expected = [
        {
            "id": {"type": "AUTO", "value": ""},
            "payload": {**row, "dataset_id": DATASET},
        }
        for row in rows[:-1]
    ]
    expected.append(
        {"id": {"type": "GKEY", "value": "000001-0"}, "payload": {**rows[-1], "dataset_id": DATASET}}
    )
    assert sent_items(labelbox) == expected  # what the three reads sent before, in the same order


def upsert_peak_memory(path: Any, rows: int) -> tuple[int, int]:
    """The peak memory of checking, spooling and uploading ``rows`` rows from a file, with canned answers; and
    the file's size."""
    import tempfile
    import tracemalloc

    from pydantic import SecretStr

    from airflow_remote_tasks.core.operation import HttpResponse
    from airflow_remote_tasks.platforms.labelbox import items, upserts
    from airflow_remote_tasks.platforms.labelbox.config import LabelboxConfig
    from airflow_remote_tasks.platforms.labelbox.jobs import UpsertDataRows, parse_job
    from airflow_remote_tasks.platforms.labelbox.platform import LabelboxPlatform

    with path.open("w") as file:
        for i in range(rows):
            name = f"images/2026/batch-{i:09d}.jpg"
            row = {"global_key": name, "row_data": f"https://bucket.example.com/{name}", "external_id": name}
            file.write(json.dumps(row) + "\n")
    platform = LabelboxPlatform(LabelboxConfig(endpoint="https://lb.example/graphql", api_key=SecretStr("k")))
    job = parse_job("upsert_data_rows", {"dataset_id": DATASET, "rows": f"file://{path}"})
    assert isinstance(job, UpsertDataRows)

    def graphql_data(data: object) -> HttpResponse:
        return HttpResponse(200, {"content-type": "application/json"}, json.dumps({"data": data}).encode())

    replies = {
        b"getDataRowsForGlobalKeysPyApi(": graphql_data({"dataRowsForGlobalKeys": {"jobId": "j"}}),
        b"getDataRowsForGlobalKeysResultPyApi(": graphql_data(
            {"dataRowsForGlobalKeysResult": {"jobStatus": "COMPLETE", "data": {"notFoundGlobalKeys": []}}}
        ),
    }
    uploaded = graphql_data({"uploadFile": {"url": "https://lb.example/u"}})
    tracemalloc.start()
    try:
        with tempfile.TemporaryFile() as spool:
            upserts.spool(map(upserts.line, items.read_rows(platform.open_uri, job.rows)), spool)
            operation = upserts.upload_rows(platform.config, upserts.spooled(spool), DATASET)
            request = next(operation)
            with pytest.raises(StopIteration):
                while True:
                    head = (request.content or b"")[:400]
                    request = operation.send(next((r for q, r in replies.items() if q in head), uploaded))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, path.stat().st_size


def test_the_rows_held_in_memory_are_one_chunk_whatever_the_file_size(tmp_path, monkeypatch):
    # Canned answers, not the emulator: it runs in this process and keeps every upload, which would be measured.
    from airflow_remote_tasks.platforms.labelbox import upserts

    monkeypatch.setattr(upserts, "UPSERT_CHUNK_BYTES", 50_000)
    small, small_size = upsert_peak_memory(tmp_path / "small.ndjson", 5_000)
    big, big_size = upsert_peak_memory(tmp_path / "big.ndjson", 20_000)
    # The peak grows by a small share of what the file grows by (caches warming up), not with the file.
    assert big - small < (big_size - small_size) / 5, (small, small_size, big, big_size)
