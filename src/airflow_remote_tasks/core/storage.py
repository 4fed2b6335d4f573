"""Paths in object storage: opening a URI with an error that says what to install, checking a place is
writable without touching what is there, and writing a file so that its target only ever holds a complete one.

A file reaches its target only when :meth:`StagedFile.commit` is called, once it is complete and checked. How
it waits depends on the store (:data:`STAGED_BY_THE_STORE`): on S3 and GCS the upload itself is held open
(fsspec's ``autocommit=False``): the parts are sent as they are written, and the object appears, complete, when
the upload is completed at commit; a failure aborts it, and no other name is ever written. Elsewhere (a local
disk, Azure, any other filesystem) it is written to a temporary sibling (``.<name>.tmp-<id>``, a name no reader
takes for the target) and moved onto the target at commit: on a local disk a rename, atomic for readers.

Paths are shown in messages, logs and XCom with any password in them masked (:func:`shown`).
"""

from __future__ import annotations

import contextlib
import errno
import logging
from collections import deque
from typing import Any
from urllib.parse import SplitResult, urlsplit
from uuid import uuid4

from airflow_remote_tasks.core.errors import ConfigurationError, PermanentError, RemoteTaskError
from airflow_remote_tasks.core.secrets import redact, register_secret

log = logging.getLogger(__name__)

# What to install on the workers for a scheme Airflow has no filesystem for: each provider registers its
# schemes with Airflow's ObjectStoragePath.
SCHEME_PACKAGES: dict[str, str] = {
    "s3": "apache-airflow-providers-amazon with s3fs (pip install 'apache-airflow-providers-amazon[s3fs]')",
    "s3a": "apache-airflow-providers-amazon with s3fs (pip install 'apache-airflow-providers-amazon[s3fs]')",
    "s3n": "apache-airflow-providers-amazon with s3fs (pip install 'apache-airflow-providers-amazon[s3fs]')",
    "gs": "apache-airflow-providers-google (which brings gcsfs)",
    "gcs": "apache-airflow-providers-google (which brings gcsfs)",
    "abfs": "apache-airflow-providers-microsoft-azure (which brings adlfs)",
    "abfss": "apache-airflow-providers-microsoft-azure (which brings adlfs)",
    "adl": "apache-airflow-providers-microsoft-azure (which brings adlfs)",
    "az": "apache-airflow-providers-microsoft-azure (which brings adlfs), and write the path as abfs://",
}

# The forms that work, by scheme. Without a conn_id Airflow hands the provider's filesystem no connection at
# all (not aws_default, google_cloud_default or wasb_default): each library then finds credentials by itself.
_S3_FORMS = (
    "s3://<conn_id>@bucket/key (an Airflow AWS connection, e.g. s3://aws_default@bucket/key), or s3://bucket/key "
    "(no connection: boto3 finds credentials itself, from the environment, ~/.aws or an instance role; none "
    "found means anonymous access)"
)
_GCS_FORMS = (
    "gs://<conn_id>@bucket/key (an Airflow Google connection, e.g. gs://google_cloud_default@bucket/key), or "
    "gs://bucket/key (no connection: gcsfs tries Google's default credentials, from GOOGLE_APPLICATION_CREDENTIALS, "
    "gcloud's login or the metadata server, and else uses anonymous access)"
)
_AZURE_FORMS = (
    "abfs://<conn_id>@container/key (an Airflow Azure connection, e.g. abfs://wasb_default@container/key or "
    "abfs://adls_default@container/key), or abfs://container/key (no connection: adlfs reads "
    "AZURE_STORAGE_CONNECTION_STRING, AZURE_STORAGE_ACCOUNT_NAME and its other AZURE_STORAGE_* variables)"
)
_FILE_FORMS = "file:///data/key (three slashes, then an absolute path on the worker), or just /data/key"
SCHEME_FORMS: dict[str, str] = {
    **dict.fromkeys(("s3", "s3a", "s3n"), _S3_FORMS),
    **dict.fromkeys(("gs", "gcs"), _GCS_FORMS),
    **dict.fromkeys(("abfs", "abfss", "adl", "az"), _AZURE_FORMS),
    **dict.fromkeys(("file", "local"), _FILE_FORMS),
}
FORMS = f"{_S3_FORMS}; or {_FILE_FORMS}"  # for a path whose scheme has no entry, or no scheme

# Filesystems (their fsspec protocols) whose files keep a write from reaching the target until commit() when
# opened with autocommit=False, and whose discard() drops it: s3fs completes the multipart upload only then
# (discard aborts it), gcsfs finalises the resumable upload only then (discard cancels it). Not here, so
# written beside the target and renamed: fsspec's local files stage in the system's temp folder (moving one
# onto another disk is a copy into the target), its memory filesystem writes the target at open, and adlfs
# commits its blocks at close whatever autocommit says.
STAGED_BY_THE_STORE = frozenset({"s3", "s3a", "gs", "gcs"})

# What a failed write at storage needs, by errno: (advice, whether a retry can get past it). A refusal meets the
# same worker writing to the same place again; space can be freed, a store can come back.
_FULL = ("Free space there or choose another place", True)
_REFUSED = ("Check the worker's permissions for that place; a retry would meet the same refusal", False)
WRITE_FAILURES: dict[int | None, tuple[str, bool]] = {
    errno.ENOSPC: _FULL,
    errno.EDQUOT: _FULL,
    errno.EFBIG: ("Choose a place that takes files this large", False),
    errno.EACCES: _REFUSED,
    errno.EPERM: _REFUSED,
    errno.EROFS: _REFUSED,
}
OTHER_WRITE_FAILURE = ("Check that the storage is reachable and the worker's credentials for it", True)


UNTOUCHED = "it is as it was before this try"
# A rename on an object store without staging of its own is a copy and a delete: a failure may follow the copy.
MOVE_FAILED = "it holds its earlier file, or the complete new one if the move failed after copying it"
# Completing an upload is one request: a lost answer leaves it unknown whether the object was replaced.
COMMIT_FAILED = "it holds its earlier file, or the complete new one if the store completed the upload"


class OutputWriteError(RemoteTaskError):
    """Writing to storage failed; the target was left as it was."""


class OutputNotWritableError(OutputWriteError, PermanentError):
    """Writing to storage was refused (permissions, a read-only filesystem): a retry cannot get past it."""


def storage_path(uri: str, what: str = "output_path") -> Any:
    """``uri`` as an ``ObjectStoragePath`` whose filesystem is ready, with an error that names ``what`` it is.
    A password in ``uri`` is registered with Airflow's secrets masker.

    :raises ConfigurationError: a path that is not a URI or absolute path; a file:// URI with a host or a
        relative path; a scheme no installed filesystem opens (naming the package to install); a filesystem
        that cannot be set up (e.g. an unknown conn_id).
    """
    from airflow.sdk import ObjectStoragePath
    from airflow.sdk.io.fs import has_fs

    text = str(uri).strip()
    parts = urlsplit(text)
    if parts.password:
        register_secret(parts.password)
    scheme = parts.scheme.lower() or "file"
    forms = SCHEME_FORMS.get(scheme, FORMS)
    if not text or ("://" not in text and not text.startswith("/")):
        raise ConfigurationError(
            f"{what} must be a URI or an absolute path, such as {FORMS}; not {shown(text)!r}."
        )
    if scheme in ("file", "local") and "://" in text:
        text = _local_uri(text, parts, what)
    try:
        path = ObjectStoragePath(text if "://" in text else f"file://{text}")
        path.fs  # noqa: B018 - found on first use: look now, so the error names `what`
    except Exception as error:
        # No filesystem for the scheme, or one whose library is missing (s3fs for s3://)
        if not has_fs(scheme) or isinstance(error, ImportError):
            install = SCHEME_PACKAGES.get(scheme)
            fix = (
                f"on the workers, install {install}"
                if install
                else "on the workers, install the Airflow provider whose filesystem opens it"
            )
            raise ConfigurationError(
                f"{what} {shown(text)!r} cannot be opened: Airflow has no filesystem for {scheme}:// here; {fix}. "
                f"Paths that work: {forms}."
            ) from None
        raise ConfigurationError(
            f"{what} {shown(text)!r} cannot be opened ({_error_text(error, text)}). If it names a connection "
            f"(scheme://<conn_id>@bucket/key), check that connection; paths that work: {forms}."
        ) from None
    return path


def _local_uri(text: str, parts: SplitResult, what: str) -> str:
    """A file:// URI as Airflow reads it: ``localhost`` is this machine (RFC 8089), which Airflow would take for
    a folder; any other host, or a relative path, would be written under the worker's working folder.

    :raises ConfigurationError: another host, or a path that is not absolute.
    """
    host = parts.hostname or ""
    if host not in ("", "localhost") or not parts.path.startswith("/"):
        raise ConfigurationError(
            f"{what} {shown(text)!r} is not an absolute path on the worker: after file:// comes a third slash "
            f"and the absolute path, such as file:///data/exports/labels.ndjson; here {host or parts.path!r} "
            "would be read as a folder under the worker's working folder."
        )
    if host == "localhost":
        userinfo = parts.netloc.rpartition("@")[0]
        return parts._replace(netloc=f"{userinfo}@" if userinfo else "").geturl()
    return text


def shown(path: Any) -> str:
    """``path`` (an ``ObjectStoragePath`` or a URI) as text for messages, logs and XCom: a password in it
    (``scheme://user:password@bucket``, which ``ObjectStoragePath`` keeps as its conn_id) as ``***``."""
    text = str(path)
    parts = urlsplit(text)
    if parts.password is None:
        return text
    userinfo, _, host = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    return parts._replace(netloc=f"{user}:***@{host}").geturl()


def _error_text(error: BaseException, uri: Any) -> str:
    """``error``'s type and text with the password of ``uri`` masked (it may quote the conn_id it is in)."""
    parts = urlsplit(str(uri))
    detail = getattr(error, "strerror", None) or str(error) or "no detail"
    if parts.password:
        detail = redact(detail.replace(f":{parts.password}", ":***"), [parts.password])
    return f"{type(error).__name__}: {detail}"


def check_writable(output_path: str) -> None:
    """Before anything is submitted: a file can be written at ``output_path``'s place, and it is no folder.
    Nothing there is touched and nothing is left: a small probe file is written beside the target (or, where
    its folders do not exist yet, in the nearest one that does) and removed. No folder or bucket is created.

    :raises ConfigurationError: naming ``output_path`` and what failed.
    """
    path = storage_path(output_path)
    try:
        if path.is_dir():
            raise IsADirectoryError(errno.EISDIR, "it is a folder: name a file in it")
        _probe(path.parent)
    except Exception as error:
        raise ConfigurationError(
            f"output_path {shown(path)!r} cannot be written ({_error_text(error, path)}); nothing was submitted. "
            "Check the location and the worker's permissions or credentials for it."
        ) from None


def _probe(folder: Any) -> None:
    """Write and remove a small file in ``folder``, or in its nearest existing parent when the filesystem has
    folders and ``folder`` is not there yet (object stores need none: the probe goes beside the target).

    :raises OSError: (or the filesystem's error) the write was refused.
    """
    probe = folder / f".{uuid4().hex[:12]}.probe"
    try:
        with probe.open("wb"):
            pass
    except FileNotFoundError:
        if folder.parent == folder or folder.exists():
            raise
        _probe(folder.parent)  # created when the file is written; only whether that can work is checked
    finally:
        remove(probe)


def errors_path(path: Any) -> Any:
    """Where a stream's error rows go: beside it, ``labels.ndjson`` -> ``labels.errors.ndjson``."""
    name = path.name
    stem, dot, suffix = name.partition(".")
    return path.with_name(f"{stem}.errors.{suffix}" if dot else f"{name}.errors")


def sibling(path: Any, kind: str) -> Any:
    """A new name beside ``path`` that no reader globs as it: hidden, and not ending like it."""
    return path.with_name(f".{path.name}.{kind}-{uuid4().hex[:12]}")


def staged_by_the_store(path: Any) -> bool:
    """Whether ``path``'s filesystem holds a write back from the target until commit (see the module doc)."""
    protocol = path.fs.protocol
    protocols = {protocol} if isinstance(protocol, str) else set(protocol)
    return not protocols.isdisjoint(STAGED_BY_THE_STORE)


class StagedFile:
    """A file for ``target`` that reaches it only at :meth:`commit`: held back by the store's own upload where
    it can (:data:`STAGED_BY_THE_STORE`), else written to a temporary sibling and moved onto ``target``.

    ``target`` is untouched until then; :meth:`discard` (or leaving the ``with`` block uncommitted) drops what
    was written. Every storage failure is raised as an :class:`OutputWriteError` that names ``what``.
    """

    def __init__(self, target: Any, what: str = "output_path") -> None:
        self.target = target
        self.what = what
        self.by_the_store = staged_by_the_store(target)
        self.temp: Any = None if self.by_the_store else sibling(target, "tmp")
        self.written = 0
        self._file: Any = None
        self._committed = False

    def __enter__(self) -> StagedFile:
        """:raises OutputWriteError: the upload or the temporary cannot be started."""
        try:
            if self.by_the_store:
                self._file = _open_uncommitted(self.target)
            else:
                self.target.parent.mkdir(parents=True, exist_ok=True)
                self._file = self.temp.fs.open(self.temp.path, "wb")
        except Exception as error:
            raise self._failed(_STEPS[self.by_the_store][0], error) from error
        return self

    def __exit__(self, kind: object, error: object, trace: object) -> None:
        if self._committed:
            return
        self.discard()  # an error, or a file not wanted after all
        if error is not None and not isinstance(error, OutputWriteError):  # whose message says so already
            log.warning(
                "%s %s is as it was before this try: nothing was put in place.",
                self.what,
                shown(self.target),
            )

    def write(self, data: bytes) -> None:
        """:raises OutputWriteError: the write failed (disk full, connection lost...)."""
        try:
            self._file.write(data)
        except Exception as error:
            raise self._failed("writing it", error) from error
        self.written += len(data)

    def finish(self) -> None:
        """Send what is still buffered (object stores upload it now), without touching ``target``; done by
        :meth:`commit` too. Finishing every file before committing any keeps a late upload failure from
        leaving one file new and its companion old.

        :raises OutputWriteError: the upload or the write failed; what was written is dropped.
        """
        if self._file is None or self._file.closed:
            return
        try:
            self._file.close()
        except Exception as error:
            self.discard()
            raise self._failed("finishing it", error) from error

    def commit(self) -> None:
        """Finish the file and put it at ``target``: complete the store's upload, or move the sibling there.

        :raises OutputWriteError: a step failed; ``target`` holds no part of the file, and what was written
            is dropped.
        """
        self.finish()
        try:
            if self.by_the_store:
                self._file.commit()
            else:
                self.temp.rename(self.target)
        except Exception as error:
            self.discard()
            step, outcome = _STEPS[self.by_the_store][1:]
            raise self._failed(step, error, outcome) from error
        self._committed = True

    def discard(self) -> None:
        """Drop what was written, unless it was committed; ``target`` is not touched."""
        if self._committed:
            return
        file, self._file = self._file, None
        if file is not None:
            _abandon(file)
        if self.temp is not None:
            remove(self.temp)

    def _failed(self, step: str, error: Exception, outcome: str = UNTOUCHED) -> OutputWriteError:
        advice, retry_helps = WRITE_FAILURES.get(getattr(error, "errno", None), OTHER_WRITE_FAILURE)
        then = "; a retry of the task downloads the finished run's outputs again" if retry_helps else ""
        kind = OutputWriteError if retry_helps else OutputNotWritableError
        after = f" after {self.written:,} bytes" if self.written else ""
        return kind(
            f"{self.what} {shown(self.target)!r} could not be written: {step} failed{after} "
            f"({_error_text(error, self.target)}). Nothing was lost at the target: {outcome}. {advice}{then}."
        )


# By whether the store holds the upload back: (starting it, putting it at the target, what a failure there
# leaves at the target).
_STEPS: dict[bool, tuple[str, str, str]] = {
    True: ("starting the upload", "completing the upload", COMMIT_FAILED),
    False: ("creating a temporary file beside it", "moving it into place", MOVE_FAILED),
}


def _open_uncommitted(target: Any) -> Any:
    """``target``'s file opened so that nothing reaches ``target`` before its ``commit()``."""
    fs = target.fs
    file = fs.open(target.path, "wb", autocommit=False)
    # fsspec keeps such files for a transaction that is never run here: let it go, or a long-lived worker
    # holds every file it ever wrote.
    pending = getattr(fs.transaction, "files", None)
    if isinstance(pending, deque) and any(f is file for f in pending):
        pending.remove(file)
    return file


def _abandon(file: Any) -> None:
    """Drop an open or finished file without completing it: ``discard()`` aborts an upload the store holds
    (s3fs, gcsfs), and a buffered file is then marked closed rather than closed, since closing it would send
    the rest and, on most object stores, complete the upload only to have it deleted."""
    from fsspec.spec import AbstractBufferedFile

    with contextlib.suppress(Exception):  # a file opened to autocommit may refuse (local files do)
        file.discard()
    if isinstance(file, AbstractBufferedFile):
        file.closed = True
        return
    with contextlib.suppress(Exception):  # the file is unusable already; removing it is what matters
        file.close()


def remove(path: Any) -> None:
    """Delete ``path`` if it is there; a failure is logged, not raised."""
    try:
        path.unlink(missing_ok=True)
    except Exception as error:  # a leftover hidden file is untidy, not wrong: say so and go on
        log.warning("Could not remove %s (%s); delete it by hand.", shown(path), _error_text(error, path))
