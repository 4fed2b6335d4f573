"""Labelbox's input files and downloads: one counter for downloads, input files named with their password
masked, and a labels or predictions file read once, streaming, into a local spool that the import sends."""

from __future__ import annotations

import ast
import io
import json
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

import pytest
from test_labelbox_upserts import counting_store  # noqa: F401 - the fixture, shared

from airflow_helpers import DAGS, run_dag
from airflow_remote_tasks.core.errors import InvalidInputsError
from airflow_remote_tasks.core.models import RunOrigin
from support import ROOT

sys.path.insert(0, str(DAGS))
from labelbox_test_dags import DATASET, LABELS

pytestmark = [pytest.mark.airflow, pytest.mark.usefixtures("airflow_db")]
PROJECT = "ckproj0000000000000000001"
SRC = ROOT / "src" / "airflow_remote_tasks"


# -- one counting sink ------------------------------------------------------------------------------------


def counting_sinks() -> list[str]:
    """Classes that pass bytes on (a ``write`` method) and count them (``self.bytes``), by module."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ClassDef):
                continue
            writes = any(isinstance(f, ast.FunctionDef) and f.name == "write" for f in node.body)
            counts = any(
                isinstance(n, ast.Attribute) and n.attr == "bytes" and getattr(n.value, "id", "") == "self"
                for n in ast.walk(node)
            )
            if writes and counts:
                found.append(f"{path.relative_to(SRC)}:{node.name}")
    return found


def test_downloads_are_counted_by_the_one_counter():
    assert counting_sinks() == ["core/counting.py:CountingSink"]


def test_a_short_export_part_is_still_caught():
    # Canned answers: the emulator serves parts whole. With CountingSink counting, a part that arrives short is
    # refused, so nothing incomplete is put in place.
    from pydantic import SecretStr

    from airflow_remote_tasks.core.errors import TransportError
    from airflow_remote_tasks.core.models import RunRef
    from airflow_remote_tasks.core.operation import HttpResponse
    from airflow_remote_tasks.platforms.labelbox.config import LabelboxConfig
    from airflow_remote_tasks.platforms.labelbox.platform import LabelboxPlatform

    def graphql_data(data: object) -> HttpResponse:
        return HttpResponse(200, {"content-type": "application/json"}, json.dumps({"data": data}).encode())

    platform = LabelboxPlatform(LabelboxConfig(endpoint="https://lb.example/graphql", api_key=SecretStr("k")))
    ref = RunRef(platform="labelbox", run_id="task1", scope={"via": "user"})
    whole = io.BytesIO()
    operation = platform.download(ref, "result", whole)
    next(operation)  # the header
    operation.send(graphql_data({"task": {"exportMetadataHeader": {"totalSize": 10, "totalLines": 1}}}))
    part = operation.send(
        graphql_data(
            {"task": {"exportFileFromOffset": {"offsets": {"start": 0, "end": 9}, "file": "https://f/1"}}}
        )
    )
    assert part.sink is not None and not part.authenticate
    part.sink.write(b"12345")
    with pytest.raises(TransportError, match="arrived with 5 bytes, not 10; the download is incomplete"):
        operation.send(HttpResponse(200, {}, b""))
    assert whole.getvalue() == b"12345"


# -- input files are named with their password masked ------------------------------------------------------


def submit(job: str, inputs: dict[str, Any]) -> Any:
    from airflow_remote_tasks.platforms.labelbox.hook import LabelboxHook

    hook = LabelboxHook("labelbox_default")
    platform = hook.platform
    interface = hook.run(platform.resolve_task(job, "latest"))
    return hook.run(
        platform.submit(
            interface,
            platform.prepare_inputs(interface, inputs),
            origin=RunOrigin(dag_id="d", run_id="r", task_id=f"{job}-file"),
            labels={},
            env={},
        )
    )


SECRET = "s3cr3t-pw-7f2a"


@pytest.mark.parametrize(
    ("job", "key", "bad_line"),
    [
        ("upsert_data_rows", "rows", '{"row_data": "x"}'),  # no global_key nor id
        ("import_labels", "labels", '{"name": "car"}'),  # no dataRow
        ("import_predictions", "predictions", "not json"),
    ],
)
def test_a_bad_input_file_is_named_with_its_password_masked(labelbox, tmp_path, job, key, bad_line):
    path = tmp_path / "input.ndjson"
    good = (
        {"global_key": "file-ok", "row_data": "https://x/1.jpg"} if job == "upsert_data_rows" else LABELS[0]
    )
    path.write_text(json.dumps(good) + "\n" + bad_line + "\n")
    uri = f"file://reader:{SECRET}@localhost{path}"
    target = {"dataset_id": DATASET} if job == "upsert_data_rows" else {"project_id": PROJECT}
    with pytest.raises(InvalidInputsError) as raised:
        submit(job, {**target, key: uri})
    message = str(raised.value)
    assert f"of 'file://reader:***@localhost{path}'" in message
    assert SECRET not in message and "line 2" in message.lower()


def test_an_input_file_that_cannot_be_opened_is_named_with_its_password_masked(labelbox, tmp_path):
    uri = f"file://reader:{SECRET}@localhost{tmp_path}/missing.ndjson"
    with pytest.raises(InvalidInputsError) as raised:
        submit("import_labels", {"project_id": PROJECT, "labels": uri})
    message = str(raised.value)
    assert f"The labels file 'file://reader:***@localhost{tmp_path}/missing.ndjson' cannot be read" in message
    assert SECRET not in message
    assert labelbox.emulator.state.imports == {}


# -- a labels or predictions file is read once, streaming --------------------------------------------------


def sent_import_file(labelbox) -> bytes:
    """The file the (one) import create carried, as the emulator received it."""
    creates = [o for o in labelbox.emulator.operations if "ImportByFilePyApi" in o["query"]]
    assert len(creates) == 1
    upload_id = str(creates[0]["variables"]["file"]).removeprefix("upload:")
    return bytes(labelbox.emulator.state.uploads[upload_id])


@pytest.mark.filterwarnings("ignore:UPath 'countmem' filesystem not explicitly implemented")
@pytest.mark.parametrize(("job", "key"), [("import_labels", "labels"), ("import_predictions", "predictions")])
def test_an_annotations_file_on_object_storage_is_read_once(labelbox, counting_store, job, key):  # noqa: F811
    counting_store().pipe_file("/bucket/notes.ndjson", "".join(json.dumps(a) + "\n" for a in LABELS).encode())
    result = run_dag(f"lb_{job}", conf={"file": "countmem://bucket/notes.ndjson"})
    assert result.state == "success"
    outcome = result.xcom("collect")
    assert outcome["succeeded"] == 2 and outcome["failed"] == 0
    assert counting_store.reads == ["/bucket/notes.ndjson"]  # checked, spooled and sent from one read
    # What the import sent is what it sent before: each annotation a line, with a uuid derived from the name.
    name = outcome["name"]
    expected = "".join(
        json.dumps({**item, "uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"labelbox:{name}:{index}"))}) + "\n"
        for index, item in enumerate(LABELS)
    )
    assert sent_import_file(labelbox) == expected.encode()


def test_too_many_of_one_feature_on_one_row_are_refused_before_anything_is_sent(
    labelbox, tmp_path, monkeypatch
):
    from airflow_remote_tasks.platforms.labelbox import items

    monkeypatch.setattr(items, "MAX_PER_ROW_AND_FEATURE", 2)
    path = tmp_path / "labels.ndjson"
    same = {"name": "car", "dataRow": {"id": "ckdr000001000000000001"}}
    path.write_text("".join(json.dumps(a) + "\n" for a in [*LABELS, same, same, same]))
    with pytest.raises(InvalidInputsError, match="More than 2 labels of feature 'car' on data row"):
        submit("import_labels", {"project_id": PROJECT, "labels": str(path)})
    assert labelbox.emulator.state.imports == {}
    two = tmp_path / "two.ndjson"
    two.write_text("".join(json.dumps(a) + "\n" for a in [same, same]))
    assert submit("import_labels", {"project_id": PROJECT, "labels": str(two)}).run_id


@pytest.mark.parametrize("executor", ["worker", "triggerer"])
def test_a_file_part_is_sent_from_its_spool_by_either_executor(labelbox, executor):
    import asyncio

    from airflow_remote_tasks.platforms.labelbox import queries
    from airflow_remote_tasks.platforms.labelbox.graphql import FILE_PIECE, call_with_file
    from airflow_remote_tasks.platforms.labelbox.hook import LabelboxHook

    hook = LabelboxHook("labelbox_default")
    content = b"".join(b'{"n": %d}\n' % i for i in range(FILE_PIECE // 8))  # several pieces
    with tempfile.TemporaryFile() as spool:
        spool.write(content)
        operation = call_with_file(
            hook.platform.config,
            queries.UPLOAD_FILE,
            {"sign": False},
            part="1",
            filename="spooled.ndjson",
            content_type="application/x-ndjson",
            data=spool,
            idempotent=True,
        )
        answer = hook.run(operation) if executor == "worker" else asyncio.run(hook.arun(operation))
    upload_id = str(answer["uploadFile"]["url"]).rsplit("/", 1)[1]
    assert bytes(labelbox.emulator.state.uploads[upload_id]) == content


def import_peak_memory(path: Path, annotations: int) -> tuple[int, int, int]:
    """The peak memory of checking, spooling and sending ``annotations`` predictions from a file, with canned
    answers; the file's size; and the bytes the create sent (its pieces drained as a socket would)."""
    import tracemalloc

    from pydantic import SecretStr

    from airflow_remote_tasks.core.operation import HttpResponse
    from airflow_remote_tasks.platforms.labelbox import imports, items
    from airflow_remote_tasks.platforms.labelbox.config import LabelboxConfig
    from airflow_remote_tasks.platforms.labelbox.jobs import ImportPredictions, parse_job
    from airflow_remote_tasks.platforms.labelbox.platform import LabelboxPlatform

    with path.open("w") as file:
        for i in range(annotations):
            item = {
                "name": "car",
                "dataRow": {"globalKey": f"images/2026/batch-{i:09d}.jpg"},
                "bbox": {"top": i % 500, "left": 20, "height": 30, "width": 40},
            }
            file.write(json.dumps(item) + "\n")
    platform = LabelboxPlatform(LabelboxConfig(endpoint="https://lb.example/graphql", api_key=SecretStr("k")))
    job = parse_job("import_predictions", {"project_id": PROJECT, "predictions": f"file://{path}"})
    assert isinstance(job, ImportPredictions)

    def graphql_data(data: object) -> HttpResponse:
        return HttpResponse(200, {"content-type": "application/json"}, json.dumps({"data": data}).encode())

    sent = 0
    tracemalloc.start()
    try:
        checked = items.read_annotations(platform.open_uri, job)
        operation = imports.start(platform.config, job, checked, "airflow-memory")
        request = next(operation)  # the lookup by name: none yet
        request = operation.send(graphql_data({"modelAssistedLabelingPredictionImport": None}))
        body = request.content
        assert body is not None
        for piece in [body] if isinstance(body, bytes) else body.chunks():
            sent += len(piece)
        assert sent == int(request.headers["Content-Length"])
        with pytest.raises(StopIteration):
            operation.send(
                graphql_data({"createModelAssistedLabelingPredictionImport": {"id": "i", "state": "RUNNING"}})
            )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, path.stat().st_size, sent


def test_an_annotations_file_is_never_held_whole_in_memory(tmp_path):
    # Canned answers, not the emulator: it runs in this process and keeps every upload, which would be measured.
    peak, size, sent = import_peak_memory(tmp_path / "predictions.ndjson", 200_000)
    assert size > 25_000_000 and sent > size  # tens of MB, sent whole (with the uuids added)
    assert peak < size / 10, (peak, size)
