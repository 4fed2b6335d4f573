"""output_path: a run that does not deliver leaves it as it was; write failures name it; downloads log how far
they are; files need output_path; storage URIs that cannot be opened say what to install. Real dag.test() runs
against the emulators, file:// paths, and for a full disk an fsspec memory filesystem that runs out of space."""

from __future__ import annotations

import errno
import os
import re
import threading
import time
import zipfile
from collections.abc import Iterator
from typing import Any

import fsspec
import pytest
from fsspec.implementations.memory import MemoryFileSystem

from airflow_helpers import run_dag
from support import text_of

pytestmark = [pytest.mark.airflow, pytest.mark.usefixtures("airflow_db")]

OLD = b'{"an": "earlier run\'s export"}\n' * 3


def task_log(caplog: pytest.LogCaptureFixture) -> str:
    """The provider's own log lines of a dag.test() run (its loggers are the task log's in Airflow 3)."""
    return "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("airflow_remote_tasks"))


def leftovers(folder: Any) -> list[str]:
    """Hidden temporaries or probes left beside a target."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


# -- a store that runs out of space ------------------------------------------------------------------------


class FullFileSystem(MemoryFileSystem):
    """An in-memory store where a file cannot grow past ``capacity`` bytes: the write that would fails with
    ENOSPC, as on a full disk."""

    protocol = ("fullmem",)
    store: dict[str, Any] = {}  # fsspec's memory filesystem keeps files on the class
    pseudo_dirs = [""]
    capacity = 1_000
    failure = errno.ENOSPC
    moves = True  # False: every move fails, as a store that goes away between upload and copy
    refused_moves = ""  # the moves onto this path fail, the others work

    def mv(self, path1: Any, path2: Any, **kwargs: Any) -> Any:
        if not self.moves or (self.refused_moves and str(path2).endswith(self.refused_moves)):
            raise OSError(errno.EIO, "Input/output error")
        return super().mv(path1, path2, **kwargs)

    @classmethod
    def _strip_protocol(cls, path: str) -> str:
        return str(super()._strip_protocol(path.removeprefix("fullmem://")))

    def _open(self, path: str, mode: str = "rb", **kwargs: Any) -> Any:
        opened = super()._open(path, mode, **kwargs)
        if "w" in mode:
            write = opened.write

            def limited(data: bytes) -> int:
                if opened.tell() + len(data) > self.capacity:
                    raise OSError(self.failure, os.strerror(self.failure))
                return int(write(data))

            opened.write = limited
        return opened


@pytest.fixture
def full_store() -> Iterator[type[FullFileSystem]]:
    from airflow.sdk.io import store

    fsspec.register_implementation("fullmem", FullFileSystem, clobber=True)
    store.attach("fullmem", fs=FullFileSystem())
    FullFileSystem.store.clear()
    try:
        yield FullFileSystem
    finally:
        FullFileSystem.store.clear()
        FullFileSystem.capacity, FullFileSystem.failure, FullFileSystem.moves = 1_000, errno.ENOSPC, True
        FullFileSystem.refused_moves = ""
        store._STORE_CACHE.pop("fullmem", None)


# -- 1. output_path is never destroyed by a run that does not deliver ------------------------------------


def test_check_writable_leaves_an_existing_file_untouched(tmp_path):
    from airflow_remote_tasks.core.storage import check_writable

    target = tmp_path / "labels.ndjson"
    target.write_bytes(OLD)
    check_writable(f"file://{target}")
    assert target.read_bytes() == OLD
    assert leftovers(tmp_path) == []  # the probe beside it is gone


def test_a_broken_labelbox_download_leaves_the_previous_export_as_it_was(labelbox, tmp_path, capfd, caplog):
    target = tmp_path / "labels.ndjson"
    target.write_bytes(OLD)
    labelbox.emulator.app.faults.update({"lose_answer": "GET /_files/", "lose_answer_next": 1})
    result = run_dag("lb_export_worker", conf={"out": f"file://{target}"})
    assert result.task_state("remote") == "failed"
    assert labelbox.emulator.app.faults.lose_answer_next == 0  # the download did break
    assert "broke off after" in text_of(capfd)
    assert f"output_path file://{target} is as it was before this try: nothing was put in place" in task_log(
        caplog
    )
    assert target.read_bytes() == OLD  # byte-identical
    assert leftovers(tmp_path) == []  # and no partial file, beside it or in its place


def test_a_broken_avala_download_leaves_the_previous_zip_as_it_was(avala, tmp_path, capfd):
    target = tmp_path / "export.zip"
    target.write_bytes(OLD)
    avala.emulator.app.faults.update({"lose_answer": "GET /_files/exports/", "lose_answer_next": 1})
    result = run_dag("av_export", conf={"out": str(target)})
    assert result.task_state("remote") == "failed"
    assert avala.emulator.app.faults.lose_answer_next == 0
    assert "broke off after" in text_of(capfd)
    assert target.read_bytes() == OLD
    assert leftovers(tmp_path) == []


def test_a_new_export_replaces_the_old_one_and_its_stale_errors_file(labelbox, tmp_path):
    target = tmp_path / "labels.ndjson"
    target.write_bytes(OLD)
    stale_errors = tmp_path / "labels.errors.ndjson"
    stale_errors.write_bytes(b'{"error": "of an earlier run"}\n')
    result = run_dag("lb_export_worker", conf={"out": f"file://{target}"})
    assert result.state == "success"
    assert target.read_bytes() != OLD and target.stat().st_size == result.xcom("collect")["bytes"]
    assert not stale_errors.exists()  # the new export has no errors: the old run's would mislead
    assert leftovers(tmp_path) == []


ERRORS = b'{"data_row": {"id": "ckdr1"}, "error": "asset unreachable"}\n' * 2


def with_export_errors(labelbox, fault: bool = False) -> threading.Thread:
    """Once the export task exists, give it an errors stream (the emulator's are empty); with ``fault``, the
    errors stream's download then breaks off."""

    def inject() -> None:
        deadline = time.monotonic() + 20
        while not labelbox.tasks and time.monotonic() < deadline:
            time.sleep(0.01)
        [task] = labelbox.emulator.state.tasks.values()
        kind = type(task.streams["RESULT"])
        task.streams["ERRORS"] = kind.of_bytes(ERRORS) if hasattr(kind, "of_bytes") else ERRORS
        if fault:
            labelbox.emulator.app.faults.update(
                {"lose_answer": f"GET /_files/{task.id}/ERRORS", "lose_answer_next": 1}
            )

    thread = threading.Thread(target=inject, daemon=True)
    thread.start()
    return thread


def test_export_errors_are_written_beside_the_export(labelbox, tmp_path):
    target = tmp_path / "labels.ndjson"
    with_export_errors(labelbox)
    result = run_dag("lb_export_worker", conf={"out": f"file://{target}"})
    assert result.state == "success"
    errors = tmp_path / "labels.errors.ndjson"
    assert errors.read_bytes() == ERRORS
    summary = result.xcom("collect")
    assert summary["errors"] == {"path": f"file://{errors}", "bytes": len(ERRORS), "rows": 2}
    assert leftovers(tmp_path) == []


def test_a_broken_errors_download_leaves_the_export_and_its_errors_as_they_were(labelbox, tmp_path):
    target, errors = tmp_path / "labels.ndjson", tmp_path / "labels.errors.ndjson"
    target.write_bytes(OLD)
    errors.write_bytes(b'{"old": "errors"}\n')
    with_export_errors(labelbox, fault=True)
    result = run_dag("lb_export_worker", conf={"out": f"file://{target}"})
    assert result.task_state("remote") == "failed"
    assert labelbox.emulator.app.faults.lose_answer_next == 0
    # The result had arrived in full, but is not moved into place without its errors.
    assert target.read_bytes() == OLD
    assert errors.read_bytes() == b'{"old": "errors"}\n'
    assert leftovers(tmp_path) == []


def test_a_download_shorter_than_announced_is_not_moved_into_place(labelbox, tmp_path):
    from airflow_remote_tasks.core.errors import TransportError
    from airflow_remote_tasks.core.models import RunRef, StreamedOutput
    from airflow_remote_tasks.operators.output_path import deliver
    from airflow_remote_tasks.platforms.labelbox.hook import LabelboxHook

    first = tmp_path / "first.ndjson"
    assert run_dag("lb_export_worker", conf={"out": f"file://{first}"}).state == "success"
    [task] = labelbox.tasks
    hook = LabelboxHook("labelbox_default")
    ref = RunRef(platform="labelbox", run_id=str(task["id"]))
    # The real export, announced one byte longer than Labelbox serves it.
    announced = StreamedOutput(run_id=ref.run_id, sizes={"result": first.stat().st_size + 1, "errors": 0})
    target = tmp_path / "labels.ndjson"
    target.write_bytes(OLD)
    with pytest.raises(TransportError, match=r"arrived with [\d,]+ bytes, but labelbox announced [\d,]+"):
        deliver(hook.run, hook.platform, ref, announced, None, f"file://{target}", 1_000)
    assert target.read_bytes() == OLD
    assert leftovers(tmp_path) == []


# -- 2. a write failure names output_path ------------------------------------------------------------------


def test_a_full_disk_names_output_path_and_keeps_the_previous_file(labelbox, full_store, capfd):
    from airflow.sdk import ObjectStoragePath

    target = ObjectStoragePath("fullmem://bucket/labels.ndjson")
    target.write_bytes(OLD)
    result = run_dag("lb_export_worker", conf={"out": "fullmem://bucket/labels.ndjson"})
    assert result.task_state("remote") == "failed"
    text = text_of(capfd)
    assert re.search(
        r"output_path '[^']*bucket/labels.ndjson' could not be written: writing it failed after [\d,]+ bytes "
        r"\(OSError: No space left on device\)\. Nothing was lost at the target: it is as it was before this "
        r"try\. Free space there or choose another place",
        text,
    ), text[-3000:]
    assert target.read_bytes() == OLD
    assert sorted(full_store.store) == ["/bucket/labels.ndjson"]  # the partial copy is gone


def test_a_json_value_to_a_full_disk_keeps_the_previous_file(flyte, full_store, capfd):
    from airflow.sdk import ObjectStoragePath

    full_store.capacity = 5
    target = ObjectStoragePath("fullmem://bucket/hello.json")
    target.write_bytes(b'"old"')
    result = run_dag("t_output_path", conf={"out": "fullmem://bucket/hello.json"})
    assert result.task_state("remote") == "failed"
    assert "No space left on device). Nothing was lost at the target" in text_of(capfd)
    assert target.read_bytes() == b'"old"'
    assert sorted(full_store.store) == ["/bucket/hello.json"]


def test_a_refused_write_is_permanent_and_names_the_fix(full_store):
    from airflow.sdk import ObjectStoragePath

    from airflow_remote_tasks.core.errors import PermanentError
    from airflow_remote_tasks.core.storage import StagedFile

    full_store.failure = errno.EROFS
    target = ObjectStoragePath("fullmem://bucket/labels.ndjson")
    target.write_bytes(OLD)
    with pytest.raises(PermanentError) as raised, StagedFile(target) as staged:
        staged.write(b"x" * 2_000)
    assert "(OSError: Read-only file system). Nothing was lost at the target" in str(raised.value)
    assert "Check the worker's permissions for that place; a retry would meet the same refusal." in str(
        raised.value
    )
    assert target.read_bytes() == OLD and sorted(full_store.store) == ["/bucket/labels.ndjson"]


def test_a_failed_move_into_place_keeps_the_previous_file(full_store):
    from airflow.sdk import ObjectStoragePath

    from airflow_remote_tasks.core.storage import OutputWriteError, StagedFile

    full_store.moves = False
    target = ObjectStoragePath("fullmem://bucket/labels.ndjson")
    target.write_bytes(OLD)
    with pytest.raises(OutputWriteError) as raised, StagedFile(target) as staged:
        staged.write(b"new\n")
        staged.commit()
    assert "moving it into place failed after 4 bytes (OSError: Input/output error)" in str(raised.value)
    assert "it holds its earlier file, or the complete new one if the move failed after copying it" in str(
        raised.value
    )
    assert target.read_bytes() == OLD and sorted(full_store.store) == ["/bucket/labels.ndjson"]


# -- 3. progress and summaries ------------------------------------------------------------------------------


PROGRESS = re.compile(
    r"Downloading run \S+'s result to \S+: ([\d,]+) bytes of ([\d,]+) \(\d+%\), ([\d,]+) rows"
)


def test_an_ndjson_export_logs_progress_and_a_final_line_and_counts_rows(
    labelbox, tmp_path, caplog, monkeypatch
):
    from airflow_remote_tasks.core import counting

    monkeypatch.setattr(counting, "PROGRESS_EVERY", 0.0)  # a line for every chunk that arrives
    target = tmp_path / "labels.ndjson"
    result = run_dag("lb_export_worker", conf={"out": f"file://{target}"})
    assert result.state == "success"
    summary = result.xcom("collect")
    assert set(summary) == {"run_id", "path", "bytes", "rows", "errors"}
    size, rows = target.stat().st_size, target.read_bytes().count(b"\n")
    assert summary["bytes"] == size and summary["rows"] == rows
    text = task_log(caplog)
    progress = PROGRESS.findall(text)
    assert len(progress) > 1, text[-3000:]  # the emulator serves 700-byte parts
    assert all(total == f"{size:,}" for _, total, _ in progress)
    assert progress[-1][0] == f"{size:,}"
    final = f"Wrote run {summary['run_id']}'s result to file://{target}: {size:,} bytes of {size:,} (100%), "
    assert re.search(re.escape(final) + rf"{rows:,} rows in [\d.]+ s \([\d.]+ [KM]iB/s\)", text), text[-3000:]


def test_progress_lines_are_bounded_by_time(labelbox, tmp_path, caplog):
    # With the default interval, a download of a second or so logs no progress line, only the final one.
    result = run_dag("lb_export_worker", conf={"out": f"file://{tmp_path / 'labels.ndjson'}"})
    assert result.state == "success"
    text = task_log(caplog)
    assert not PROGRESS.search(text)
    assert "'s result to file://" in text


def test_a_zip_export_is_counted_in_bytes_not_rows(avala, tmp_path, caplog, monkeypatch):
    from airflow_remote_tasks.core import counting

    monkeypatch.setattr(counting, "PROGRESS_EVERY", 0.0)
    target = tmp_path / "export.zip"
    result = run_dag("av_export", conf={"out": str(target)})
    assert result.state == "success"
    summary = result.xcom("collect")
    assert set(summary) == {"run_id", "path", "bytes", "errors"}  # lines of a zip are no rows
    assert summary["bytes"] == target.stat().st_size
    with zipfile.ZipFile(target) as zipped:
        assert zipped.namelist() == ["annotations.json"]
    text = task_log(caplog)
    size = target.stat().st_size
    assert re.search(rf"Downloading run \S+'s result to \S+: {size:,} bytes in [\d.]+ s", text), text[-3000:]
    final = re.search(rf"Wrote run \S+'s result to file://{re.escape(str(target))}: {size:,} bytes in", text)
    assert final, text[-3000:]
    assert " rows" not in final.group(0)


# -- 4. a file without output_path ---------------------------------------------------------------------


def test_a_zip_export_without_output_path_says_files_need_output_path(avala, capfd):
    result = run_dag("av_export", conf={"out": ""})
    assert result.task_state("remote") == "failed"
    assert result.try_number("remote") == 1  # a retry cannot help: no Airflow retries
    text = text_of(capfd)
    assert "produced a file (binary), and files are not passed through XCom: set output_path" in text
    assert "max_output_bytes" not in text


# -- 5. storage URIs that cannot be opened ---------------------------------------------------------------


S3_FORMS = (
    "s3://<conn_id>@bucket/key (an Airflow AWS connection, e.g. s3://aws_default@bucket/key), or s3://bucket/key "
    "(no connection: boto3 finds credentials itself"
)
GCS_FORMS = (
    "gs://<conn_id>@bucket/key (an Airflow Google connection, e.g. gs://google_cloud_default@bucket/key), or "
    "gs://bucket/key (no connection: gcsfs tries Google's default credentials"
)
AZURE_FORMS = (
    "abfs://<conn_id>@container/key (an Airflow Azure connection, e.g. abfs://wasb_default@container/key or "
    "abfs://adls_default@container/key), or abfs://container/key (no connection: adlfs reads "
    "AZURE_STORAGE_CONNECTION_STRING"
)


@pytest.mark.parametrize(
    ("uri", "package", "forms"),
    [
        ("s3://bucket/exports/labels.ndjson", "apache-airflow-providers-amazon with s3fs", S3_FORMS),
        ("s3://aws_exports@bucket/labels.ndjson", "apache-airflow-providers-amazon with s3fs", S3_FORMS),
        ("gs://bucket/labels.ndjson", "apache-airflow-providers-google", GCS_FORMS),
        ("gcs://bucket/labels.ndjson", "apache-airflow-providers-google", GCS_FORMS),
        ("abfs://container/labels.ndjson", "apache-airflow-providers-microsoft-azure", AZURE_FORMS),
        ("az://container/labels.ndjson", "apache-airflow-providers-microsoft-azure", AZURE_FORMS),
    ],
)
def test_a_scheme_without_a_filesystem_names_the_package_and_the_forms_of_that_scheme(uri, package, forms):
    from airflow_remote_tasks.core.errors import ConfigurationError
    from airflow_remote_tasks.core.storage import check_writable

    with pytest.raises(ConfigurationError) as raised:
        check_writable(uri)
    message = str(raised.value)
    assert message.startswith(f"output_path {uri!r} cannot be opened: Airflow has no filesystem for ")
    assert f"on the workers, install {package}" in message
    # Without a conn_id Airflow uses no connection at all: the forms say so, scheme by scheme.
    assert f"Paths that work: {forms}" in message


def test_a_relative_path_shows_the_forms_that_work():
    from airflow_remote_tasks.core.errors import ConfigurationError
    from airflow_remote_tasks.core.storage import storage_path

    with pytest.raises(
        ConfigurationError, match=r"output_path must be a URI or an absolute path, such as s3://"
    ):
        storage_path("exports/labels.ndjson")


def test_a_password_in_a_uri_is_not_shown(tmp_path):
    from airflow_remote_tasks.core.errors import ConfigurationError
    from airflow_remote_tasks.core.storage import storage_path

    with pytest.raises(ConfigurationError) as raised:
        storage_path("s3://key:hunter2-secret@bucket/labels.ndjson")
    assert "hunter2-secret" not in str(raised.value) and "s3://key:***@bucket" in str(raised.value)


def test_an_input_file_on_a_scheme_without_a_filesystem_names_the_package(labelbox, capfd):
    result = run_dag("lb_upsert_file", conf={"rows": "gs://bucket/rows.ndjson"})
    assert result.task_state("remote") == "failed"
    text = text_of(capfd)
    assert "The file 'gs://bucket/rows.ndjson' cannot be opened: Airflow has no filesystem for gs://" in text
    assert "on the workers, install apache-airflow-providers-google" in text
    assert labelbox.tasks == []
