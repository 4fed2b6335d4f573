"""Outputs that belong in object storage: copied chunk by chunk to ``output_path``, summarised in XCom.

Any platform whose ``outputs`` answers a :class:`~airflow_remote_tasks.core.models.StreamedOutput` gets this:
the operator writes each stream through Airflow's ``ObjectStoragePath`` (s3://, gs://, file://, whatever
filesystems are installed), so memory stays flat whatever the size, and XCom holds only where it went. Each
file reaches its target only when complete and checked against what the platform announced (bytes, and rows
where it says): a run that does not deliver leaves ``output_path`` as it was (:class:`StagedFile`). Paths are
shown with any password masked.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
from collections.abc import Callable
from typing import Any

from airflow_remote_tasks.core.counting import CountingSink, TooLarge
from airflow_remote_tasks.core.errors import ConfigurationError, OutputsTooLargeError, TransportError
from airflow_remote_tasks.core.models import RunRef, StreamedOutput
from airflow_remote_tasks.core.operation import Operation, Sink
from airflow_remote_tasks.core.platform import Platform
from airflow_remote_tasks.core.storage import (
    OutputWriteError,
    StagedFile,
    errors_path,
    remove,
    shown,
    storage_path,
)

log = logging.getLogger(__name__)

Run = Callable[[Operation[Any]], Any]
Download = Callable[[RunRef, str, Sink], Operation[None]]

# Formats whose lines are rows: their summaries count rows; any other (json, binary) is counted in bytes only.
LINE_FORMATS = frozenset({"ndjson", "csv", "text"})


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
    Without ``output_path``, a stream is returned inline when it fits ``max_bytes`` and its format is one
    XCom can hold. Files reach ``output_path`` (and its errors file) only complete: a failed download or
    write leaves both as they were.

    :raises OutputsTooLargeError: no ``output_path`` and a stream bigger than ``max_bytes``.
    :raises ConfigurationError: no ``output_path`` and a file (a binary stream); or an ``output_path`` that
        cannot be opened.
    :raises OutputWriteError: writing to storage failed (``OutputNotWritableError`` where a retry cannot help).
    :raises TransportError: a stream arrived with other bytes or rows than the platform announced.
    """
    if output is None:
        assert output_path
        path = storage_path(output_path)
        data = json.dumps(value, default=str).encode()
        with StagedFile(path) as staged:
            staged.write(data)
            staged.commit()
        log.info(
            "Wrote the outputs of run %s to %s: %s bytes of JSON", ref.run_id, shown(path), f"{len(data):,}"
        )
        return {"run_id": ref.run_id, "path": shown(path), "bytes": len(data), "errors": None}
    if not output_path:
        return _inline(run, platform.download, ref, output, max_bytes)
    path = storage_path(output_path)
    with contextlib.ExitStack() as stack:
        result = stack.enter_context(StagedFile(path))
        counted = _copy(run, platform, ref, output, "result", result)
        errors_file: StagedFile | None = None
        if output.sizes.get("errors", 0) != 0:  # announced with rows, or of unknown size
            errors_file = stack.enter_context(
                StagedFile(errors_path(path), "The errors file beside output_path")
            )
            counted_errors = _copy(run, platform, ref, output, "errors", errors_file)
            errors_file = errors_file if counted_errors.bytes else None
        # Both uploads finished before either file is put in place, the result first: a failure up to the
        # result's commit leaves both files as they were.
        result.finish()
        if errors_file is not None:
            errors_file.finish()
        result.commit()
        _wrote(ref, "result", result, counted)
        errors: dict[str, Any] | None = None
        if errors_file is not None:
            try:
                errors_file.commit()
            except OutputWriteError as error:
                error.amend(f"The new result is already in place at output_path {shown(path)}.")
                raise
            _wrote(ref, "errors", errors_file, counted_errors)
            errors = {"path": shown(errors_file.target), **counted_errors.summary()}
        elif "errors" in output.sizes:
            # The platform has an errors stream and this run's is empty: an earlier run's errors file would
            # pass for the new result's. A platform without one leaves a file of that name alone.
            remove(errors_path(path))
    return {"run_id": ref.run_id, "path": shown(path), **counted.summary(), "errors": errors}


def _copy(
    run: Run, platform: Platform, ref: RunRef, output: StreamedOutput, stream: str, staged: StagedFile
) -> CountingSink:
    """Download one stream into ``staged``, checked against the bytes and rows the platform announced.

    :raises TransportError: it arrived with another size or another number of rows.
    """
    total = output.sizes.get(stream)
    counter = CountingSink(
        staged,
        progress=f"run {ref.run_id}'s {stream} to {shown(staged.target)}",
        total=total,
        rows=output.format in LINE_FORMATS,
    )
    run(platform.download(ref, stream, counter))
    rows = output.rows.get(stream)
    for unit, announced, arrived in (("bytes", total, counter.bytes), ("rows", rows, counter.rows)):
        if announced is not None and arrived != announced:
            raise TransportError(
                f"Run {ref.run_id}'s {stream} arrived with {arrived:,} {unit}, but {platform.name} announced "
                f"{announced:,}; it was not written to {shown(staged.target)}, which is as it was before this "
                "try. A retry of the task downloads it again."
            )
    return counter


def _wrote(ref: RunRef, stream: str, staged: StagedFile, counter: CountingSink) -> None:
    log.info("Wrote run %s's %s to %s: %s", ref.run_id, stream, shown(staged.target), counter.describe())


def _ndjson(data: bytes) -> Any:
    return [json.loads(line) for line in data.splitlines() if line.strip()]


def _json(data: bytes) -> Any:
    return json.loads(data) if data else None


# The formats XCom can hold, and how to read them; any other (binary: a zip...) goes to output_path only.
INLINE_READERS: dict[str, Callable[[bytes], Any]] = {"ndjson": _ndjson, "json": _json}


def _inline(run: Run, download: Download, ref: RunRef, output: StreamedOutput, max_bytes: int) -> Any:
    read = INLINE_READERS.get(output.format)
    if read is None:
        raise ConfigurationError(
            f"Run {ref.run_id} produced a file ({output.format}), and files are not passed through XCom: set "
            "output_path (e.g. 's3://bucket/exports/{{ ds }}/export.zip') to stream it to storage; XCom then "
            f"gets its path and size. The run itself succeeded. {ref.url}".rstrip()
        )
    known = output.sizes.get("result")
    if known is not None and known > max_bytes:
        raise _needs_output_path(ref, known, max_bytes)
    buffer = io.BytesIO()
    try:
        run(download(ref, "result", CountingSink(buffer, limit=max_bytes)))
    except TooLarge as error:
        raise _needs_output_path(ref, error.size, max_bytes) from None
    return read(buffer.getvalue())


def _needs_output_path(ref: RunRef, size: int, max_bytes: int) -> OutputsTooLargeError:
    return OutputsTooLargeError(
        f"Run {ref.run_id} produced {size:,}+ bytes, over max_output_bytes={max_bytes:,}, and has no "
        "output_path: set output_path (e.g. 's3://bucket/exports/{{ ds }}/result.ndjson') to stream it to "
        f"storage; XCom then gets its path and counts. {ref.url}".rstrip()
    )
