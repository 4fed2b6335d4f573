"""Exports of a project's or a dataset's data rows: started under a name derived from the task instance, and
their result streamed, a stream of NDJSON chunks behind signed file URLs."""

from __future__ import annotations

from typing import Any

from airflow_remote_tasks.core.counting import CountingSink
from airflow_remote_tasks.core.create_once import create_once
from airflow_remote_tasks.core.errors import TransportError
from airflow_remote_tasks.core.models import RunRef, StreamedOutput
from airflow_remote_tasks.core.operation import HttpRequest, Operation, Sink
from airflow_remote_tasks.platforms.labelbox import queries
from airflow_remote_tasks.platforms.labelbox.config import LabelboxConfig
from airflow_remote_tasks.platforms.labelbox.graphql import call
from airflow_remote_tasks.platforms.labelbox.jobs import ExportDataset, ExportProject
from airflow_remote_tasks.platforms.labelbox.tasks import Tasks, task_ref

STREAMS = ("RESULT", "ERRORS")  # an export's streams, as Labelbox names them

# Job kind -> the mutation that starts it, and the field its answer is under.
MUTATIONS: dict[type[ExportProject | ExportDataset], tuple[str, str]] = {
    ExportProject: (queries.EXPORT_PROJECT, "exportDataRowsInProject"),
    ExportDataset: (queries.EXPORT_CATALOG, "exportDataRowsInCatalog"),
}


def start(tasks: Tasks, job: ExportProject | ExportDataset, name: str) -> Operation[RunRef]:
    """Start the export named ``name``, or attach to the key's user's task of that name: an export has no
    idempotency key, so its name is looked up before every create.

    :raises ApiError: a lookup failed, or the last create (see :func:`create_once`)."""
    config = tasks.config
    mutation, field = MUTATIONS[type(job)]
    # An export links to what it exports: the project, or the dataset in the catalog.
    link = (
        config.project_url(job.project_id)
        if isinstance(job, ExportProject)
        else config.dataset_url(job.dataset_id)
    )

    def attached() -> Operation[RunRef | None]:
        found = yield from tasks.named(name)
        return None if found is None else task_ref(config, found["id"], via="user", url=link)

    def created() -> Operation[RunRef]:
        data = yield from call(config, mutation, {"input": job.wire(name)}, idempotent=False)
        return task_ref(config, str(data[field]["taskId"]), via="user", url=link)

    return (yield from create_once(attached, created))


def outputs(config: LabelboxConfig, ref: RunRef) -> Operation[StreamedOutput]:
    """The export's streams, with the sizes and lines (the rows: the SDK reads an export line by line up to
    ``totalLines``) Labelbox announces."""
    sizes: dict[str, int | None] = {}
    rows: dict[str, int] = {}
    for stream in STREAMS:
        header = yield from _header(config, ref.run_id, stream)
        sizes[stream.lower()] = int(header["totalSize"]) if header else 0
        rows[stream.lower()] = int(header["totalLines"]) if header else 0
    return StreamedOutput(run_id=ref.run_id, format="ndjson", sizes=sizes, rows=rows)


def download(config: LabelboxConfig, ref: RunRef, stream: str, sink: Sink) -> Operation[None]:
    """Write one stream to ``sink``: each chunk is a byte range behind a signed URL, fetched without the API key
    (another origin).

    :raises TransportError: a chunk's download failed, or it arrived shorter or longer than its range."""
    kind = stream.upper()
    header = yield from _header(config, ref.run_id, kind)
    total = int(header["totalSize"]) if header else 0
    counted = CountingSink(sink)
    offset = 0
    while offset < total:
        data = yield from call(
            config,
            queries.EXPORT_FILE,
            {"where": {"id": ref.run_id}, "streamType": kind, "offset": str(offset)},
        )
        chunk = (data.get("task") or {}).get("exportFileFromOffset") or {}
        start, end = int(chunk["offsets"]["start"]), int(chunk["offsets"]["end"])
        before = counted.bytes
        response = yield HttpRequest("GET", str(chunk["file"]), authenticate=False, sink=counted)
        if not 200 <= response.status < 300:
            raise TransportError(
                f"Downloading part {start}-{end} of export {ref.run_id} got HTTP {response.status}: "
                f"{response.text[:200]!r}"
            )
        if counted.bytes - before != end - start + 1:
            raise TransportError(
                f"Part {start}-{end} of export {ref.run_id} arrived with {counted.bytes - before} bytes, "
                f"not {end - start + 1}; the download is incomplete. A retry of the task downloads it again."
            )
        offset = end + 1
    return None


def _header(config: LabelboxConfig, task_id: str, stream: str) -> Operation[dict[str, Any] | None]:
    data = yield from call(config, queries.EXPORT_HEADER, {"where": {"id": task_id}, "streamType": stream})
    header = (data.get("task") or {}).get("exportMetadataHeader")
    return dict(header) if header else None
