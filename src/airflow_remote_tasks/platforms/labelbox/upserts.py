"""Data-row upserts the way the official SDK makes them: rows whose global key names a row are keyed by it
(``GKEY``), the others are created (``AUTO`` with ``global_key``).

Whether Labelbox creates a row for a ``GKEY`` spec naming an unknown key is documented nowhere, so the keys are
looked up first (the SDK's ``get_data_row_ids_for_global_keys``). A retry after a lost answer looks them up
again: the rows the lost attempt created are found then, and keyed, so nothing is created twice.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from airflow_remote_tasks.core.errors import ApiError
from airflow_remote_tasks.core.operation import HttpResponse, Operation
from airflow_remote_tasks.platforms.labelbox import queries
from airflow_remote_tasks.platforms.labelbox.config import LabelboxConfig
from airflow_remote_tasks.platforms.labelbox.graphql import call, upload
from airflow_remote_tasks.platforms.labelbox.jobs import DataRow

UPSERT_CHUNK_BYTES = 10_000_000  # the SDK splits upserts at this size: the server takes chunks this large
# GUESS: no limit is documented (the SDK sends every key in one job); batches keep each job and answer small.
LOOKUP_BATCH = 1000
# Reads of a lookup job's result; while it runs, each read is asked again after the executor's backoff.
LOOKUP_READS = 6
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
        for _ in range(LOOKUP_READS):
            result = (
                yield from call(config, queries.GLOBAL_KEYS_RESULT, {"jobId": job["jobId"]}, not_yet=_running)
            )["dataRowsForGlobalKeysResult"] or {}
            if result.get("jobStatus") in LOOKUP_DONE:
                break
        status = result.get("jobStatus")
        if status != "COMPLETE":
            raise ApiError(
                f"Labelbox's lookup of {len(batch)} global keys (job {job['jobId']}) "
                + (
                    "failed"
                    if status == "FAILED"
                    else f"had not finished after {LOOKUP_READS} reads ({status})"
                )
                + "; no row was sent. A retry of the task looks them up again.",
                status=200,
                code=f"global_keys_lookup_{str(status).lower()}",
                retryable=True,
            )
        data = result.get("data") or {}
        found |= set(batch) - set(data.get("notFoundGlobalKeys") or [])
    return found


def upload_rows(
    config: LabelboxConfig, rows: Iterable[DataRow], dataset_id: str, existing: set[str]
) -> Operation[list[str]]:
    """Upload the rows as upsert chunks of at most :data:`UPSERT_CHUNK_BYTES`; their URLs."""
    chunks: list[str] = []
    chunk: list[bytes] = []
    size = 0
    for row in rows:
        item = json.dumps(row.item(dataset_id, existing=bool(row.global_key) and row.global_key in existing))
        encoded = item.encode()
        if chunk and size + len(encoded) + 2 > UPSERT_CHUNK_BYTES:
            chunks.append((yield from _upload_chunk(config, chunk, len(chunks))))
            chunk, size = [], 0
        chunk.append(encoded)
        size += len(encoded) + 2
    if chunk:
        chunks.append((yield from _upload_chunk(config, chunk, len(chunks))))
    return chunks


def _upload_chunk(config: LabelboxConfig, items: list[bytes], index: int) -> Operation[str]:
    return (
        yield from upload(config, f"rows-{index}.json", "application/json", b"[" + b", ".join(items) + b"]")
    )


def _running(response: HttpResponse) -> bool:
    try:
        result = (response.json()["data"] or {})["dataRowsForGlobalKeysResult"] or {}
    except (ValueError, KeyError, TypeError):
        return False  # not an answer to read a status from: the caller's decoding says what it is
    return result.get("jobStatus") not in LOOKUP_DONE
