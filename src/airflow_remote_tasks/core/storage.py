"""Paths in object storage: opening a URI with an error that says what to install, checking a place is
writable without touching what is there, and writing a file so that its target only ever holds a complete one.

A file is written to a temporary sibling (``.<name>.tmp-<id>``, a name no reader takes for the target) and
moved onto the target only once it is complete. Until then the target is as it was; a failure removes the
temporary. On a local disk the move is a rename, atomic for readers; on object stores (S3, GCS, Azure) it is a
server-side copy and a delete, so the target appears complete, but the temporary can be seen in listings
while it is written.
"""

from __future__ import annotations

import contextlib
import errno
import logging
from typing import Any
from urllib.parse import urlsplit
from uuid import uuid4

from airflow_remote_tasks.core.errors import ConfigurationError, PermanentError, RemoteTaskError

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

FORMS = (
    "s3://bucket/key.ndjson (with the credentials the worker finds by itself: environment, instance role), "
    "s3://<conn_id>@bucket/key.ndjson (an Airflow connection of your own), or file:///data/key.ndjson"
)

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
# A move on an object store is a copy and a delete: a failure may come after the copy.
MOVE_FAILED = "it holds its earlier file, or the complete new one if the move failed after copying it"


class OutputWriteError(RemoteTaskError):
    """Writing to storage failed; the target was left as it was."""


class OutputNotWritableError(OutputWriteError, PermanentError):
    """Writing to storage was refused (permissions, a read-only filesystem): a retry cannot get past it."""


def storage_path(uri: str, what: str = "output_path") -> Any:
    """``uri`` as an ``ObjectStoragePath`` whose filesystem is ready, with an error that names ``what`` it is.

    :raises ConfigurationError: a path that is not a URI or absolute path; a scheme no installed filesystem
        opens (naming the package to install); a filesystem that cannot be set up (e.g. an unknown conn_id).
    """
    from airflow.sdk import ObjectStoragePath
    from airflow.sdk.io.fs import has_fs

    text = str(uri).strip()
    if not text or ("://" not in text and not text.startswith("/")):
        raise ConfigurationError(f"{what} must be a URI or an absolute path, such as {FORMS}; not {text!r}.")
    scheme = urlsplit(text).scheme.lower() or "file"
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
                f"{what} {_shown(text)!r} cannot be opened: Airflow has no filesystem for {scheme}:// here; {fix}. "
                f"Paths that work: {FORMS}."
            ) from None
        raise ConfigurationError(
            f"{what} {_shown(text)!r} cannot be opened ({type(error).__name__}: {error}). If it names a "
            f"connection (scheme://<conn_id>@bucket/key), check that connection; paths that work: {FORMS}."
        ) from None
    return path


def check_writable(output_path: str) -> None:
    """Before anything is submitted: the place exists or can be made, and a file can be written there. An
    existing file at ``output_path`` is not touched: a small probe file beside it is written and removed.

    :raises ConfigurationError: naming ``output_path`` and what failed.
    """
    path = storage_path(output_path)
    probe = sibling(path, "probe")
    try:
        if path.is_dir():
            raise IsADirectoryError(errno.EISDIR, "it is a folder: name a file in it")
        path.parent.mkdir(parents=True, exist_ok=True)
        with probe.open("wb"):
            pass
    except Exception as error:
        raise ConfigurationError(
            f"output_path {str(path)!r} cannot be written ({type(error).__name__}: {error}); nothing was "
            "submitted. Check the location and the worker's permissions or credentials for it."
        ) from None
    remove(probe)


def errors_path(path: Any) -> Any:
    """Where a stream's error rows go: beside it, ``labels.ndjson`` -> ``labels.errors.ndjson``."""
    name = path.name
    stem, dot, suffix = name.partition(".")
    return path.with_name(f"{stem}.errors.{suffix}" if dot else f"{name}.errors")


def sibling(path: Any, kind: str) -> Any:
    """A new name beside ``path`` that no reader globs as it: hidden, and not ending like it."""
    return path.with_name(f".{path.name}.{kind}-{uuid4().hex[:12]}")


class StagedFile:
    """A file for ``target``, written to a temporary sibling and moved onto ``target`` by :meth:`commit`.

    ``target`` is untouched until then; :meth:`discard` (or leaving the ``with`` block uncommitted) removes
    the temporary. Every storage failure is raised as an :class:`OutputWriteError` that names ``what``.
    """

    def __init__(self, target: Any, what: str = "output_path") -> None:
        self.target = target
        self.what = what
        self.temp = sibling(target, "tmp")
        self.written = 0
        self._file: Any = None
        self._committed = False

    def __enter__(self) -> StagedFile:
        """:raises OutputWriteError: the temporary cannot be created."""
        try:
            self.target.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.temp.open("wb")
        except Exception as error:
            raise self._failed("creating a temporary file beside it", error) from error
        return self

    def __exit__(self, kind: object, error: object, trace: object) -> None:
        if self._committed:
            return
        self.discard()  # an error, or a file not wanted after all
        if error is not None and not isinstance(error, OutputWriteError):  # whose message says so already
            log.warning(
                "%s %s is as it was before this try: nothing was moved into place.", self.what, self.target
            )

    def write(self, data: bytes) -> None:
        """:raises OutputWriteError: the write failed (disk full, connection lost...)."""
        try:
            self._file.write(data)
        except Exception as error:
            raise self._failed("writing it", error) from error
        self.written += len(data)

    def commit(self) -> None:
        """Finish the temporary (object stores upload it on close) and move it onto ``target``.

        :raises OutputWriteError: either step failed; ``target`` holds no part of the file, and the temporary
            is removed.
        """
        try:
            self._close()
        except Exception as error:
            self.discard()
            raise self._failed("finishing it", error) from error
        try:
            self.temp.rename(self.target)
        except Exception as error:
            self.discard()
            raise self._failed("moving it into place", error, MOVE_FAILED) from error
        self._committed = True

    def discard(self) -> None:
        """Remove the temporary, unless it was committed; ``target`` is not touched."""
        if self._committed:
            return
        with contextlib.suppress(Exception):  # the file is unusable already; removing it is what matters
            self._close()
        remove(self.temp)

    def _close(self) -> None:
        file, self._file = self._file, None
        if file is not None:
            file.close()

    def _failed(self, step: str, error: Exception, outcome: str = UNTOUCHED) -> OutputWriteError:
        advice, retry_helps = WRITE_FAILURES.get(getattr(error, "errno", None), OTHER_WRITE_FAILURE)
        detail = getattr(error, "strerror", None) or str(error) or "no detail"
        then = "; a retry of the task downloads the finished run's outputs again" if retry_helps else ""
        kind = OutputWriteError if retry_helps else OutputNotWritableError
        after = f" after {self.written:,} bytes" if self.written else ""
        return kind(
            f"{self.what} {str(self.target)!r} could not be written: {step} failed{after} "
            f"({type(error).__name__}: {detail}). Nothing was lost at the target: {outcome}. {advice}{then}."
        )


def remove(path: Any) -> None:
    """Delete ``path`` if it is there; a failure is logged, not raised."""
    try:
        path.unlink(missing_ok=True)
    except Exception as error:  # a leftover hidden file is untidy, not wrong: say so and go on
        log.warning("Could not remove %s (%s: %s); delete it by hand.", path, type(error).__name__, error)


def _shown(uri: str) -> str:
    """``uri`` without a password a user may have put in it (``scheme://user:password@bucket``)."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()
