"""Data-row upserts the way the official SDK makes them: rows whose global key names a row are keyed by it
(``GKEY``), the others are created (``AUTO`` with ``global_key``).

Whether Labelbox creates a row for a ``GKEY`` spec naming an unknown key is documented nowhere, so the keys are
looked up first (the SDK's ``get_data_row_ids_for_global_keys``), a chunk's keys just before it is uploaded: what
is held is one chunk, however many rows there are. A retry after a lost answer looks them up again: the rows the
lost attempt created are found then, and keyed, so nothing is created twice.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from typing import IO, Any

from airflow_remote_tasks.core.create_once import create_once
from airflow_remote_tasks.core.errors import ApiError, InvalidInputsError
from airflow_remote_tasks.core.models import RunRef
from airflow_remote_tasks.core.operation import Operation
from airflow_remote_tasks.platforms.labelbox import PLATFORM, queries
from airflow_remote_tasks.platforms.labelbox.config import LabelboxConfig
from airflow_remote_tasks.platforms.labelbox.graphql import call, upload
from airflow_remote_tasks.platforms.labelbox.jobs import DataRow, UpsertDataRows
from airflow_remote_tasks.platforms.labelbox.row_errors import MAX_FAILED_ROWS, check_refused

UPSERT_CHUNK_BYTES = 10_000_000  # the SDK splits upserts at this size: the server takes chunks this large
# GUESS: no limit is documented (the SDK sends every key in one job); batches keep each job and answer small.
LOOKUP_BATCH = 1000
# The pause before each new read of a lookup job that was still running at the last one (GUESS: no cadence is
# documented). A job still running after the last counts as not finished: about a minute in all.
LOOKUP_PAUSES = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0, 8.0, 8.0, 8.0)
LOOKUP_DONE = frozenset({"COMPLETE", "FAILED"})  # the SDK's words for a finished lookup; any other: running
RESULT_PAGE = 5000  # the SDK's page size for upsert results


def start(config: LabelboxConfig, job: UpsertDataRows, rows: Iterable[DataRow]) -> Operation[RunRef]:
    """Upload the rows in chunks, each after looking up which of its global keys name a row (those keyed,
    the others created), a manifest naming them, then start the upsert. An upsert has no name to be found by,
    so there is no task to attach to: before every start the keys are looked up and the rows uploaded afresh,
    so after a transient failure (an answer lost, perhaps after Labelbox acted) the rows the lost start created
    are keyed this time, not created twice.

    :raises InvalidInputsError: a row (of a file: a line) is not a valid data row, or there are none;
        nothing was sent. :raises ApiError: a lookup or the last start failed (see :func:`create_once`)."""
    scope: dict[str, Any] = {"via": "user", "fail_on_row_errors": job.fail_on_row_errors}
    manifest_url = ""

    def uploaded() -> Operation[RunRef | None]:
        nonlocal manifest_url
        chunks = yield from upload_rows(config, spooled(rows_file), job.dataset_id)
        if not chunks:
            raise InvalidInputsError("upsert_data_rows got no rows; nothing was started.")
        manifest = json.dumps({"source": "SDK", "item_count": len(chunks), "chunk_uris": chunks}).encode()
        manifest_url = yield from upload(config, "manifest.json", "application/json", manifest)
        return None  # nothing to attach to: the start follows

    def started() -> Operation[RunRef]:
        variables = {"manifestUri": manifest_url}
        data = yield from call(config, queries.UPSERT_DATA_ROWS, variables, idempotent=False)
        task_id = str(data["upsertDataRows"]["id"])
        return RunRef(platform=PLATFORM.name, run_id=task_id, scope=scope, url=config.task_url(task_id))

    # The rows, checked, in a local file (gone once closed) that each attempt's chunks are cut from: a rows
    # file on object storage is read once, and memory stays flat whatever its size.
    with tempfile.TemporaryFile() as rows_file:
        spool(map(line, rows), rows_file)
        return (yield from create_once(uploaded, started))


def outcome(config: LabelboxConfig, ref: RunRef) -> Operation[dict[str, Any]]:
    """Counts, and the failed rows with their errors (the first :data:`MAX_FAILED_ROWS`).

    :raises RowErrorsError: rows were refused and the job fails on that."""
    variables: dict[str, Any] = {"taskId": ref.run_id, "first": 1, "from": None}
    succeeded = yield from call(config, queries.UPSERT_SUCCESSES, variables)
    total = int(succeeded["successesfulDataRowImports"]["total"] or 0)
    failures: list[dict[str, Any]] = []
    failed_total = 0
    cursor: str | None = None
    while True:
        variables = {"taskId": ref.run_id, "first": RESULT_PAGE, "from": cursor}
        page = (yield from call(config, queries.UPSERT_FAILURES, variables))["failedDataRowImports"]
        failed_total = int(page["total"] or 0)
        failures += [{"message": r["message"], "row": r["spec"]} for r in page["results"] or []]
        cursor = page.get("after")
        if not cursor or len(failures) >= MAX_FAILED_ROWS:
            break
    first = repr(failures[0]["message"] if failures else "no detail")
    check_refused(ref, f"upserted {total} rows", failed_total, first)
    return {
        "run_id": ref.run_id,
        "succeeded": total,
        "failed": failed_total,
        "failures": failures[:MAX_FAILED_ROWS],
    }


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
