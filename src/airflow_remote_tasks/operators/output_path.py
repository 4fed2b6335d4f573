"""Outputs that belong in object storage: copied chunk by chunk to ``output_path``, summarised in XCom.

Any platform whose ``outputs`` answers a :class:`~airflow_remote_tasks.core.models.StreamedOutput` gets this:
the operator writes each stream through Airflow's ``ObjectStoragePath`` (s3://, gs://, file://, whatever
filesystems are installed), so memory stays flat whatever the size, and XCom holds only where it went.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

from airflow_remote_tasks.core.errors import ConfigurationError, OutputsTooLargeError
from airflow_remote_tasks.core.models import RunRef, StreamedOutput
from airflow_remote_tasks.core.operation import Operation, Sink
from airflow_remote_tasks.core.platform import Platform

Run = Callable[[Operation[Any]], Any]
Download = Callable[[RunRef, str, Sink], Operation[None]]


class Counter:
    """Passes bytes on to ``target`` and counts them, and the lines they hold."""

    def __init__(self, target: Sink, limit: int | None = None) -> None:
        self.target = target
        self.limit = limit
        self.bytes = 0
        self.lines = 0
        self._last = b"\n"

    def write(self, data: bytes) -> None:
        if not data:
            return
        self.bytes += len(data)
        if self.limit is not None and self.bytes > self.limit:
            raise _TooLarge(self.bytes)
        self.lines += data.count(b"\n")
        self._last = data[-1:]
        self.target.write(data)

    @property
    def rows(self) -> int:
        """Lines, counting a last line without a newline."""
        return self.lines + (0 if self._last == b"\n" else 1)


class _TooLarge(Exception):
    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size


def storage_path(uri: str, what: str = "output_path") -> Any:
    """``uri`` as an ``ObjectStoragePath``, with an error that names ``what`` it is and the fix.

    :raises ConfigurationError: a path that is not a URI or absolute path, or whose scheme has no filesystem.
    """
    from airflow.sdk import ObjectStoragePath

    text = str(uri).strip()
    if not text or ("://" not in text and not text.startswith("/")):
        raise ConfigurationError(
            f"{what} must be a URI such as s3://bucket/key.ndjson or file:///data/x.ndjson, not {text!r}."
        )
    try:
        return ObjectStoragePath(text if "://" in text else f"file://{text}")
    except Exception as error:  # an unknown scheme, a missing fsspec filesystem package
        raise ConfigurationError(
            f"{what} {text!r} cannot be opened ({type(error).__name__}: {error}). Install the filesystem "
            "for its scheme (e.g. apache-airflow-providers-amazon for s3://) or use another path."
        ) from None


def check_writable(output_path: str) -> None:
    """Before anything is submitted: the place exists or can be made, and a file can be written there.

    :raises ConfigurationError: naming ``output_path`` and what failed.
    """
    path = storage_path(output_path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb"):
            pass
    except Exception as error:
        raise ConfigurationError(
            f"output_path {str(path)!r} cannot be written ({type(error).__name__}: {error}); nothing was "
            "submitted. Check the location and the worker's permissions or credentials for it."
        ) from None


def errors_path(path: Any) -> Any:
    """Where a stream's error rows go: beside it, ``labels.ndjson`` -> ``labels.errors.ndjson``."""
    name = path.name
    stem, dot, suffix = name.partition(".")
    return path.with_name(f"{stem}.errors.{suffix}" if dot else f"{name}.errors")


def deliver(
    run: Run,
    platform: Platform,
    ref: RunRef,
    output: StreamedOutput | None,
    value: Any,
    output_path: str | None,
    max_bytes: int,
) -> Any:
    """Put a run's outputs where they belong and return what XCom gets: streams (``output``) are copied to
    ``output_path`` chunk by chunk, a plain ``value`` is written there as JSON; the summary says where.
    Without ``output_path``, a stream is returned inline when it fits ``max_bytes``.

    :raises OutputsTooLargeError: no ``output_path`` and a stream bigger than ``max_bytes``.
    """
    if output is None:
        assert output_path
        path = storage_path(output_path)
        data = json.dumps(value, default=str).encode()
        with path.open("wb") as target:
            target.write(data)
        return {"run_id": ref.run_id, "path": str(path), "bytes": len(data), "rows": None, "errors": None}
    download = platform.download
    if not output_path:
        return _inline(run, download, ref, output, max_bytes)
    path = storage_path(output_path)
    summary: dict[str, Any] = {
        "run_id": ref.run_id,
        "path": str(path),
        **_copy(run, download, ref, "result", path),
    }
    summary["errors"] = None
    if output.sizes.get("errors") != 0 and "errors" in output.sizes:
        target = errors_path(path)
        copied = _copy(run, download, ref, "errors", target)
        if copied["bytes"]:
            summary["errors"] = {"path": str(target), **copied}
        else:
            target.unlink(missing_ok=True)
    return summary


def _copy(run: Run, download: Download, ref: RunRef, stream: str, path: Any) -> dict[str, int]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as target:
        counter = Counter(target)
        run(download(ref, stream, counter))
    return {"bytes": counter.bytes, "rows": counter.rows}


def _inline(run: Run, download: Download, ref: RunRef, output: StreamedOutput, max_bytes: int) -> Any:
    known = output.sizes.get("result")
    if known is not None and known > max_bytes:
        raise _needs_output_path(ref, known, max_bytes)
    buffer = io.BytesIO()
    try:
        run(download(ref, "result", Counter(buffer, limit=max_bytes)))
    except _TooLarge as error:
        raise _needs_output_path(ref, error.size, max_bytes) from None
    data = buffer.getvalue()
    if output.format == "ndjson":
        return [json.loads(line) for line in data.splitlines() if line.strip()]
    if output.format == "json":
        return json.loads(data) if data else None
    raise _needs_output_path(ref, len(data), max_bytes)


def _needs_output_path(ref: RunRef, size: int, max_bytes: int) -> OutputsTooLargeError:
    return OutputsTooLargeError(
        f"Run {ref.run_id} produced {size:,}+ bytes, over max_output_bytes={max_bytes:,}, and has no "
        "output_path: set output_path (e.g. 's3://bucket/exports/{{ ds }}/result.ndjson') to stream it to "
        f"storage; XCom then gets its path and counts. {ref.url}".rstrip()
    )
