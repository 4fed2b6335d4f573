"""Data-row upserts the way the official SDK makes them: rows whose global key names a row are keyed by it
(``GKEY``), the others are created (``AUTO`` with ``global_key``).

Whether Labelbox creates a row for a ``GKEY`` spec naming an unknown key is documented nowhere, so the keys are
looked up first (the SDK's ``get_data_row_ids_for_global_keys``), a chunk's keys just before it is uploaded: what
is held is one chunk, however many rows there are. A retry after a lost answer looks them up again: the rows the
lost attempt created are found then, and keyed, so nothing is created twice.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from typing import IO, Any

from airflow_remote_tasks.core.errors import ApiError
from airflow_remote_tasks.core.operation import Operation
from airflow_remote_tasks.platforms.labelbox import queries
from airflow_remote_tasks.platforms.labelbox.config import LabelboxConfig
from airflow_remote_tasks.platforms.labelbox.graphql import call, upload
from airflow_remote_tasks.platforms.labelbox.jobs import DataRow

UPSERT_CHUNK_BYTES = 10_000_000  # the SDK splits upserts at this size: the server takes chunks this large
# GUESS: no limit is documented (the SDK sends every key in one job); batches keep each job and answer small.
LOOKUP_BATCH = 1000
# The pause before each new read of a lookup job that was still running at the last one (GUESS: no cadence is
# documented). A job still running after the last counts as not finished: about a minute in all.
LOOKUP_PAUSES = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0, 8.0, 8.0, 8.0)
LOOKUP_DONE = frozenset({"COMPLETE", "FAILED"})  # the SDK's words for a finished lookup; any other: running


def existing_keys(config: LabelboxConfig, keys: Sequence[str]) -> Operation[set[str]]:
    """The global keys among ``keys`` that name a row (one the key's user may see, or one it may not: either
    way a create would be refused as a duplicate).

    :raises ApiError: the lookup job failed, or did not finish (``retryable``; nothing was started).
    """
    found: set[str] = set()
    unique = list(dict.fromkeys(keys))
    for start in range(0, len(unique), LOOKUP_BATCH):
        batch = unique[start : start + LOOKUP_BATCH]
        job = (yield from call(config, queries.GLOBAL_KEYS_JOB, {"globalKeys": batch}))[
            "dataRowsForGlobalKeys"
        ]
        result: dict[str, Any] = {}
        # A running job is read again after a pause, here: it is no failure for the executor to retry.
        for pause in (0.0, *LOOKUP_PAUSES):
            result = (
                yield from call(config, queries.GLOBAL_KEYS_RESULT, {"jobId": job["jobId"]}, pause=pause)
            )["dataRowsForGlobalKeysResult"] or {}
            if result.get("jobStatus") in LOOKUP_DONE:
                break
        status = result.get("jobStatus")
        if status != "COMPLETE":
            unfinished = (
                f"had not finished after {len(LOOKUP_PAUSES) + 1} reads, {sum(LOOKUP_PAUSES):g}s apart in all"
            )
            raise ApiError(
                f"Labelbox's lookup of {len(batch)} global keys (job {job['jobId']}) "
                + ("failed" if status == "FAILED" else f"{unfinished} ({status})")
                + "; no row was sent. A retry of the task looks them up again.",
                status=200,
                code=f"global_keys_lookup_{str(status).lower()}",
                retryable=True,
            )
        data = result.get("data") or {}
        found |= set(batch) - set(data.get("notFoundGlobalKeys") or [])
    return found


def spool(lines: Iterable[bytes], file: IO[bytes]) -> None:
    """Write ``lines`` (JSON, one value each) to ``file``, a line each: a file given by URI is read once, however
    often what it holds is then sent (rows: read back by :func:`spooled`; annotations: the import's file)."""
    for text in lines:
        file.write(text + b"\n")


def line(row: DataRow) -> bytes:
    """``row`` as :func:`spool` writes it and :func:`spooled` reads it back."""
    return row.model_dump_json(exclude_none=True).encode()


def spooled(file: IO[bytes]) -> Iterator[DataRow]:
    """The rows :func:`spool` wrote to ``file``, from its start."""
    file.seek(0)
    for line in file:
        yield DataRow.model_validate_json(line)


def upload_rows(config: LabelboxConfig, rows: Iterable[DataRow], dataset_id: str) -> Operation[list[str]]:
    """Upload the rows as upsert chunks of at most :data:`UPSERT_CHUNK_BYTES`, each after a lookup of its global
    keys (those that name a row keyed, the others created); their URLs.

    :raises ApiError: a lookup failed or did not finish (see :func:`existing_keys`).
    """
    chunks: list[str] = []
    for batch in _chunks(rows, dataset_id):
        existing = yield from existing_keys(config, [row.global_key for row in batch if row.global_key])
        items = [
            json.dumps(
                row.item(dataset_id, existing=bool(row.global_key) and row.global_key in existing)
            ).encode()
            for row in batch
        ]
        chunks.append((yield from _upload_chunk(config, items, len(chunks))))
    return chunks


def _chunks(rows: Iterable[DataRow], dataset_id: str) -> Iterator[list[DataRow]]:
    """The rows in runs whose upsert items fit in :data:`UPSERT_CHUNK_BYTES`, each measured in its longer form
    (keyed by its global key) as the lookup that decides the form comes after."""
    batch: list[DataRow] = []
    size = 0
    for row in rows:
        length = len(json.dumps(row.item(dataset_id, existing=True)).encode()) + 2
        if batch and size + length > UPSERT_CHUNK_BYTES:
            yield batch
            batch, size = [], 0
        batch.append(row)
        size += length
    if batch:
        yield batch


def _upload_chunk(config: LabelboxConfig, items: list[bytes], index: int) -> Operation[str]:
    return (
        yield from upload(config, f"rows-{index}.json", "application/json", b"[" + b", ".join(items) + b"]")
    )
