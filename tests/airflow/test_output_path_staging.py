"""output_path, the review's findings: passwords in a URI never shown; the result put in place before its
errors file; writes held back by the store's own upload where it can (S3, GCS), else beside the target and
renamed; a failed upload aborted, not completed; announced rows checked; an errors file removed only by a
platform that has errors streams; probes that leave nothing behind; file:// URIs that are absolute.

Real dag.test() runs against the emulators, file:// paths, fsspec's memory filesystem, and two in-memory stores
whose files upload in parts as s3fs's and adlfs's do (neither library is installed here)."""

from __future__ import annotations

import errno
import re
from collections.abc import Iterator
from typing import Any

import fsspec
import pytest
import test_output_path
from fsspec.implementations.memory import MemoryFile, MemoryFileSystem
from fsspec.spec import AbstractBufferedFile
from test_output_path import (
    OLD,
    leftovers,
    task_log,
    text_of,
    with_export_errors,
)

from airflow_helpers import run_dag

pytestmark = [pytest.mark.airflow, pytest.mark.usefixtures("airflow_db")]

full_store = test_output_path.full_store  # a store that runs out of space, or whose moves fail

SECRET = "hunter2-pw"


def attached(protocol: str, fs: Any, conn_id: str | None = None) -> None:
    from airflow.sdk.io import store

    fsspec.register_implementation(protocol, type(fs), clobber=True)
    store.attach(protocol, conn_id=conn_id, fs=fs)


def detach(protocol: str) -> None:
    from airflow.sdk.io import store

    for alias in [a for a in store._STORE_CACHE if a == protocol or a.startswith(f"{protocol}-")]:
        store._STORE_CACHE.pop(alias)


# -- stores whose files upload in parts, as s3fs's (held until commit) and adlfs's (completed at close) --------


class UploadFile(AbstractBufferedFile):
    """A file sent in parts as it is written; the object appears only when its upload is completed."""

    def _initiate_upload(self) -> None:
        self.fs.events.append(("start", self.path))
        self.fs.uploads[self.path] = bytearray()

    def _upload_chunk(self, final: bool = False) -> bool:
        self.fs.uploads[self.path].extend(self.buffer.getvalue())
        if final and (self.autocommit or not self.fs.holds_uploads):
            self.commit()
        return True

    def commit(self) -> None:
        self.fs.store[self.path] = MemoryFile(self.fs, self.path, bytes(self.fs.uploads.pop(self.path)))
        self.fs.events.append(("complete", self.path))

    def discard(self) -> None:
        if self.fs.uploads.pop(self.path, None) is not None:
            self.fs.events.append(("abort", self.path))


class UploadFileSystem(MemoryFileSystem):
    """In memory, with files that upload in parts. ``holds_uploads``: an upload opened with autocommit=False
    completes only at ``commit()`` (s3fs, gcsfs); otherwise at close whatever autocommit says (adlfs)."""

    protocol = ("s3mem",)
    store: dict[str, Any] = {}
    pseudo_dirs = [""]
    holds_uploads = True
    events: list[tuple[str, str]] = []
    uploads: dict[str, bytearray] = {}

    @classmethod
    def _strip_protocol(cls, path: str) -> str:
        return str(super()._strip_protocol(re.sub(r"^\w+://", "", path)))

    def _open(
        self, path: str, mode: str = "rb", block_size: Any = None, autocommit: bool = True, **kw: Any
    ) -> Any:
        if "w" not in mode:
            return super()._open(path, mode, **kw)
        return UploadFile(self, self._strip_protocol(path), mode, block_size=64, autocommit=autocommit)

    def mv(self, path1: Any, path2: Any, **kwargs: Any) -> Any:
        self.events.append(("copy", str(path2)))
        return super().mv(path1, path2, **kwargs)


class BlockFileSystem(UploadFileSystem):
    protocol = ("blockmem",)
    store: dict[str, Any] = {}
    holds_uploads = False
    events: list[tuple[str, str]] = []
    uploads: dict[str, bytearray] = {}


@pytest.fixture
def s3_like(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[UploadFileSystem]]:
    from airflow_remote_tasks.core import storage

    # s3fs's protocols are in the table; this stand-in's is added as one of them.
    monkeypatch.setattr(storage, "STAGED_BY_THE_STORE", storage.STAGED_BY_THE_STORE | {"s3mem"})
    yield from _store(UploadFileSystem)


@pytest.fixture
def adlfs_like() -> Iterator[type[UploadFileSystem]]:
    yield from _store(BlockFileSystem)


def _store(kind: type[UploadFileSystem]) -> Iterator[type[UploadFileSystem]]:
    attached(kind.protocol[0], kind())
    kind.store.clear(), kind.events.clear(), kind.uploads.clear()
    try:
        yield kind
    finally:
        kind.store.clear(), kind.events.clear(), kind.uploads.clear()
        detach(kind.protocol[0])


@pytest.fixture
def memory_store() -> Iterator[dict[str, Any]]:
    attached("memory", MemoryFileSystem())
    MemoryFileSystem.store.clear()
    try:
        yield MemoryFileSystem.store
    finally:
        MemoryFileSystem.store.clear()
        detach("memory")


# -- 1. a password in the URI is never shown -------------------------------------------------------------------


def test_check_writable_masks_a_password_in_a_file_uri(tmp_path):
    from airflow_remote_tasks.core.errors import ConfigurationError
    from airflow_remote_tasks.core.storage import check_writable

    (tmp_path / "plain").write_bytes(b"a file, where a folder is expected")
    with pytest.raises(ConfigurationError) as raised:
        check_writable(f"file://key:{SECRET}@{tmp_path}/plain/labels.ndjson")
    message = str(raised.value)
    assert SECRET not in message
    assert message.startswith(
        f"output_path 'file://key:***@{tmp_path}/plain/labels.ndjson' cannot be written ("
    )


def test_a_connection_error_that_quotes_the_conn_id_shows_no_password(monkeypatch):
    """A filesystem set up from an Airflow connection, as the providers' are: an unknown conn_id is reported
    by Airflow with the conn_id in its text, and the password is part of that conn_id."""
    from airflow.sdk import BaseHook
    from airflow.sdk.io import fs

    from airflow_remote_tasks.core.errors import ConfigurationError
    from airflow_remote_tasks.core.storage import storage_path

    def get_fs(conn_id: str | None, options: Any = None) -> Any:
        BaseHook.get_connection(conn_id or "")
        return MemoryFileSystem()

    fsspec.register_implementation("connfs", MemoryFileSystem, clobber=True)
    monkeypatch.setitem(fs._register_filesystems(), "connfs", get_fs)
    with pytest.raises(ConfigurationError) as raised:
        storage_path(f"connfs://key:{SECRET}@bucket/labels.ndjson")
    message = str(raised.value)
    assert "isn't defined" in message and "key:***" in message  # Airflow's own words, with the conn_id masked
    assert SECRET not in message


def test_deliver_shows_no_password_in_xcom_nor_logs(labelbox, tmp_path, capfd, caplog):
    target = tmp_path / "labels.ndjson"
    result = run_dag("lb_export_worker", conf={"out": f"file://key:{SECRET}@{target}"})
    assert result.state == "success"
    summary = result.xcom("collect")
    assert summary["path"] == f"file://key:***@{target}"
    assert summary["bytes"] == target.stat().st_size > 0
    assert f"'s result to file://key:***@{target}: " in task_log(caplog)
    assert SECRET not in task_log(caplog) + text_of(capfd)
    assert all(SECRET not in repr(value) for value in result.all_xcom_values())


def test_a_bucket_uri_with_a_password_is_masked_in_xcom_and_write_errors(full_store, caplog):
    from airflow_remote_tasks.core.models import RunRef
    from airflow_remote_tasks.core.storage import OutputWriteError
    from airflow_remote_tasks.operators.output_path import deliver

    uri = f"fullmem://key:{SECRET}@bucket/hello.json"
    attached("fullmem", full_store(), conn_id=f"key:{SECRET}")  # as a provider would for that conn_id
    ref = RunRef(platform="flyte", run_id="r1")
    summary = deliver(lambda op: None, None, ref, None, {"greeting": "hi"}, uri, 1_000)  # type: ignore[arg-type]
    # Airflow writes a memory filesystem's paths with their leading slash: fullmem://conn@/bucket/...
    assert re.fullmatch(r"fullmem://key:\*\*\*@/?bucket/hello\.json", summary["path"]), summary
    full_store.capacity = 5
    with pytest.raises(OutputWriteError) as raised:
        deliver(lambda op: None, None, ref, None, {"greeting": "hi"}, uri, 1_000)  # type: ignore[arg-type]
    assert re.search(
        r"output_path 'fullmem://key:\*\*\*@/?bucket/hello.json' could not be written", str(raised.value)
    )
    assert SECRET not in str(raised.value) + task_log(caplog)


# -- 2. the result is put in place before its errors file ------------------------------------------------------


def test_a_failed_move_of_the_result_leaves_the_export_and_its_errors_as_they_were(labelbox, full_store):
    from airflow.sdk import ObjectStoragePath

    full_store.capacity = 10**7
    full_store.refused_moves = "/bucket/labels.ndjson"  # only the result's move fails; the errors' would work
    target = ObjectStoragePath("fullmem://bucket/labels.ndjson")
    errors = ObjectStoragePath("fullmem://bucket/labels.errors.ndjson")
    target.write_bytes(OLD)
    errors.write_bytes(b'{"old": "errors"}\n')
    with_export_errors(labelbox)
    result = run_dag("lb_export_worker", conf={"out": "fullmem://bucket/labels.ndjson"})
    assert result.task_state("remote") == "failed"
    assert target.read_bytes() == OLD
    assert errors.read_bytes() == b'{"old": "errors"}\n'  # not the new errors beside the old result
    assert sorted(full_store.store) == ["/bucket/labels.errors.ndjson", "/bucket/labels.ndjson"]


def test_a_failed_move_of_the_errors_file_says_the_result_is_in_place(labelbox, full_store, capfd):
    from airflow.sdk import ObjectStoragePath

    full_store.capacity = 10**7
    full_store.refused_moves = "/bucket/labels.errors.ndjson"
    with_export_errors(labelbox)
    result = run_dag("lb_export_worker", conf={"out": "fullmem://bucket/labels.ndjson"})
    assert result.task_state("remote") == "failed"
    text = text_of(capfd)
    assert re.search(
        r"The errors file beside output_path 'fullmem:///?bucket/labels.errors.ndjson' could not be", text
    )
    assert re.search(
        r"The new result is already in place at output_path fullmem:///?bucket/labels.ndjson\.", text
    )
    assert ObjectStoragePath("fullmem://bucket/labels.ndjson").read_bytes().count(b"\n") > 0
    assert not ObjectStoragePath("fullmem://bucket/labels.errors.ndjson").exists()


# -- 3, 4. the store holds the upload back where it can; elsewhere a failed temporary is not completed ---------


def test_on_a_store_that_holds_uploads_the_export_appears_at_commit_and_nothing_is_copied(labelbox, s3_like):
    from airflow.sdk import ObjectStoragePath

    target = ObjectStoragePath("s3mem://bucket/labels.ndjson")
    result = run_dag("lb_export_worker", conf={"out": "s3mem://bucket/labels.ndjson"})
    assert result.state == "success"
    assert target.read_bytes().count(b"\n") == result.xcom("collect")["rows"] > 0
    # One upload, to the target itself, completed once: no temporary name, no copy, no delete.
    events = [event for event in s3_like.events if not event[1].endswith(".probe")]  # check_writable's
    assert events == [("start", "/bucket/labels.ndjson"), ("complete", "/bucket/labels.ndjson")]
    assert sorted(s3_like.store) == ["/bucket/labels.ndjson"] and s3_like.uploads == {}


def test_on_a_store_that_holds_uploads_a_broken_download_aborts_the_upload(labelbox, s3_like):
    from airflow.sdk import ObjectStoragePath

    target = ObjectStoragePath("s3mem://bucket/labels.ndjson")
    target.write_bytes(OLD)  # an earlier export, uploaded the same way
    s3_like.events.clear()
    labelbox.emulator.app.faults.update({"lose_answer": "GET /_files/", "lose_answer_next": 1})
    result = run_dag("lb_export_worker", conf={"out": "s3mem://bucket/labels.ndjson"})
    assert result.task_state("remote") == "failed"
    assert labelbox.emulator.app.faults.lose_answer_next == 0
    assert target.read_bytes() == OLD
    assert ("complete", "/bucket/labels.ndjson") not in s3_like.events
    assert sorted(s3_like.store) == ["/bucket/labels.ndjson"] and s3_like.uploads == {}  # nothing pending


def test_on_a_store_that_holds_uploads_a_failed_write_aborts_the_upload(s3_like):
    from airflow.sdk import ObjectStoragePath

    from airflow_remote_tasks.core.storage import StagedFile

    target = ObjectStoragePath("s3mem://bucket/labels.ndjson")
    target.write_bytes(OLD)
    s3_like.events.clear()
    with pytest.raises(RuntimeError, match="the download broke"), StagedFile(target) as staged:
        staged.write(b"x" * 1_000)  # past the block size: parts are on their way
        assert s3_like.uploads["/bucket/labels.ndjson"] and target.read_bytes() == OLD
        raise RuntimeError("the download broke")
    assert s3_like.events == [("start", "/bucket/labels.ndjson"), ("abort", "/bucket/labels.ndjson")]
    assert target.read_bytes() == OLD and s3_like.uploads == {}


def test_a_failed_temporary_is_dropped_without_completing_its_upload(adlfs_like):
    """A store whose files complete their upload at close (adlfs): the temporary beside the target is
    discarded and never closed, so no object is made only to be deleted."""
    from airflow.sdk import ObjectStoragePath

    from airflow_remote_tasks.core.storage import StagedFile

    target = ObjectStoragePath("blockmem://bucket/export.zip")
    target.write_bytes(OLD)
    adlfs_like.events.clear()
    with pytest.raises(RuntimeError, match="the download broke"), StagedFile(target) as staged:
        staged.write(b"x" * 1_000)  # past the block size: parts are on their way
        raise RuntimeError("the download broke")
    assert [kind for kind, _ in adlfs_like.events] == ["start", "abort"]
    assert target.read_bytes() == OLD and sorted(adlfs_like.store) == ["/bucket/export.zip"]


def test_on_a_store_that_completes_at_close_a_file_is_written_beside_and_moved(adlfs_like):
    from airflow.sdk import ObjectStoragePath

    from airflow_remote_tasks.core.storage import StagedFile

    target = ObjectStoragePath("blockmem://bucket/export.zip")
    with StagedFile(target) as staged:
        staged.write(b"new")
        staged.commit()
    assert target.read_bytes() == b"new" and sorted(adlfs_like.store) == ["/bucket/export.zip"]
    kinds = [kind for kind, _ in adlfs_like.events]
    assert kinds == ["start", "complete", "copy"]
    assert re.fullmatch(r"/bucket/\.export\.zip\.tmp-[0-9a-f]{12}", adlfs_like.events[0][1])


def test_the_memory_filesystem_is_written_beside_the_target_since_it_ignores_autocommit(memory_store):
    from airflow.sdk import ObjectStoragePath

    from airflow_remote_tasks.core.storage import StagedFile

    target = ObjectStoragePath("memory://bucket/labels.ndjson")
    target.write_bytes(OLD)
    # Why it is not in STAGED_BY_THE_STORE: opened with autocommit=False, it replaces the target at once.
    target.fs.open(target.path, "wb", autocommit=False)
    assert target.read_bytes() == b""
    target.write_bytes(OLD)
    with pytest.raises(RuntimeError), StagedFile(target) as staged:
        staged.write(b"half an export")
        assert target.read_bytes() == OLD
        raise RuntimeError("the download broke")
    assert target.read_bytes() == OLD and sorted(memory_store) == ["/bucket/labels.ndjson"]
    with StagedFile(target) as staged:
        staged.write(b"new\n")
        staged.commit()
    assert target.read_bytes() == b"new\n" and sorted(memory_store) == ["/bucket/labels.ndjson"]


def test_on_a_local_disk_the_temporary_is_beside_the_target_and_renamed(tmp_path):
    """fsspec's own autocommit=False stages local files in the system temp folder, from where the move onto
    another disk is a copy into the target; a sibling is renamed, which readers see at once and whole."""
    from airflow_remote_tasks.core.storage import StagedFile, storage_path

    target = tmp_path / "labels.ndjson"
    target.write_bytes(OLD)
    with StagedFile(storage_path(str(target))) as staged:
        staged.write(b"new\n")
        [temp] = leftovers(tmp_path)
        assert temp.startswith(".labels.ndjson.tmp-") and target.read_bytes() == OLD
        inode = (tmp_path / temp).stat().st_ino
        staged.commit()
    assert target.read_bytes() == b"new\n" and target.stat().st_ino == inode  # renamed, not copied
    assert leftovers(tmp_path) == []


# -- 5. announced rows are checked ---------------------------------------------------------------------------


@pytest.mark.parametrize("extra", [0, 1])
def test_an_export_with_other_rows_than_announced_is_not_moved_into_place(labelbox, tmp_path, extra):
    from airflow_remote_tasks.core.errors import TransportError
    from airflow_remote_tasks.core.models import RunRef, StreamedOutput
    from airflow_remote_tasks.operators.output_path import deliver
    from airflow_remote_tasks.platforms.labelbox.hook import LabelboxHook

    first = tmp_path / "first.ndjson"
    assert run_dag("lb_export_worker", conf={"out": f"file://{first}"}).state == "success"
    [task] = labelbox.tasks
    hook = LabelboxHook("labelbox_default")
    ref = RunRef(platform="labelbox", run_id=str(task["id"]))
    size, lines = first.stat().st_size, first.read_bytes().count(b"\n")
    # What Labelbox announces (the header its outputs() reads) counts bytes and rows as they arrive here, and
    # the platform hands those counts on for the check.
    announced_by_labelbox = hook.run(hook.platform.outputs(ref))
    assert announced_by_labelbox.sizes == {"result": size, "errors": 0}
    assert announced_by_labelbox.rows == {"result": lines, "errors": 0}
    announced = StreamedOutput(
        run_id=ref.run_id, sizes={"result": size, "errors": 0}, rows={"result": lines + extra, "errors": 0}
    )
    target = tmp_path / "labels.ndjson"
    target.write_bytes(OLD)
    if extra:
        with pytest.raises(
            TransportError, match=rf"arrived with {lines:,} rows, but labelbox announced {lines + 1:,}"
        ):
            deliver(hook.run, hook.platform, ref, announced, None, f"file://{target}", 1_000)
        assert target.read_bytes() == OLD
    else:
        summary = deliver(hook.run, hook.platform, ref, announced, None, f"file://{target}", 1_000)
        assert summary["rows"] == lines and target.read_bytes() == first.read_bytes()
    assert leftovers(tmp_path) == []


# -- 6. an errors file is removed only by a platform that has errors streams ---------------------------------


def test_an_avala_export_leaves_a_users_errors_zip_alone(avala, tmp_path):
    target, theirs = tmp_path / "export.zip", tmp_path / "export.errors.zip"
    theirs.write_bytes(b"the user's own file")
    result = run_dag("av_export", conf={"out": str(target)})
    assert result.state == "success" and target.stat().st_size > 0
    assert theirs.read_bytes() == b"the user's own file"


# -- 8. check_writable leaves nothing behind -----------------------------------------------------------------


def test_check_writable_creates_no_folders(tmp_path):
    from airflow_remote_tasks.core.storage import check_writable

    check_writable(f"file://{tmp_path}/a/b/labels.ndjson")
    assert list(tmp_path.iterdir()) == []  # neither a/b nor a probe: the folders are made when it is written


def test_check_writable_removes_its_probe_when_closing_it_fails(full_store):
    from airflow_remote_tasks.core.errors import ConfigurationError
    from airflow_remote_tasks.core.storage import check_writable

    full_store.capacity = -1  # every write fails, even the empty probe's flush on close
    original = MemoryFile.close

    def failing_close(self: MemoryFile) -> None:
        raise OSError(errno.EIO, "Input/output error")

    MemoryFile.close = failing_close  # type: ignore[method-assign]
    try:
        with pytest.raises(ConfigurationError, match=r"cannot be written \(OSError: Input/output error\)"):
            check_writable("fullmem://bucket/labels.ndjson")
    finally:
        MemoryFile.close = original  # type: ignore[method-assign]
    assert full_store.store == {}  # the probe was removed all the same


# -- 9. file:// URIs are absolute paths on the worker --------------------------------------------------------


@pytest.mark.parametrize("uri", ["file://rel/labels.ndjson", "file://key:pw@rel/labels.ndjson"])
def test_a_file_uri_with_a_host_is_refused_naming_the_fix(uri, tmp_path, monkeypatch):
    from airflow_remote_tasks.core.errors import ConfigurationError
    from airflow_remote_tasks.core.storage import check_writable

    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigurationError) as raised:
        check_writable(uri)
    assert "is not an absolute path on the worker: after file:// comes a third slash" in str(raised.value)
    assert "such as file:///data/exports/labels.ndjson; here 'rel' would be read as a folder" in str(
        raised.value
    )
    assert list(tmp_path.iterdir()) == []


def test_a_file_uri_on_localhost_is_this_machine(tmp_path, monkeypatch):
    from airflow_remote_tasks.core.storage import StagedFile, storage_path

    monkeypatch.chdir(tmp_path)
    target = tmp_path / "out" / "labels.ndjson"
    path = storage_path(f"file://localhost{target}")
    with StagedFile(path) as staged:
        staged.write(b"new\n")
        staged.commit()
    assert target.read_bytes() == b"new\n" and not (tmp_path / "localhost").exists()
