"""Avala exports: of a project or a dataset, started once, their file streamed to storage when ready."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from airflow_remote_tasks.core.errors import TransportError
from airflow_remote_tasks.core.models import RunRef, StreamedOutput
from airflow_remote_tasks.core.operation import HttpRequest, Operation, Sink, starting_run
from airflow_remote_tasks.platforms.avala.api import AvalaApi
from airflow_remote_tasks.platforms.avala.runs import read, ref_of


class Export(BaseModel):
    model_config = ConfigDict(extra="forbid")
    project: str | None = Field(default=None, min_length=1)
    dataset: str | None = Field(default=None, min_length=1)


def start_export(api: AvalaApi, job: Export) -> Operation[RunRef]:
    """:raises NotFoundError: the project or dataset is not visible to the key; nothing was started.
    :raises RemoteTaskError: what the create raised (it is not sent twice)."""
    yield from api.check_exists("projects" if job.project else "datasets", job.project or job.dataset or "")
    # No idempotency key and no listing of exports: a create whose answer was lost is not sent again
    # blindly (it is not retried); an export only reads, so a retry of the task that runs it twice is
    # harmless.
    created = yield from starting_run(
        api.call("POST", "exports", body=job.model_dump(exclude_none=True), idempotent=False, shape="created")
    )
    return ref_of(api.config, "export", str(created["uid"]), job.project or "", dataset=job.dataset or "")


def export_output(ref: RunRef) -> StreamedOutput:
    """A finished export's output: its one file (of a size the API does not say), streamed by :func:`download`."""
    return StreamedOutput(run_id=ref.run_id, format="binary", sizes={"result": None})


def download(api: AvalaApi, ref: RunRef, sink: Sink) -> Operation[None]:
    """Write the export's file to ``sink``.

    :raises TransportError: the export has no ``download_url``, or the download failed.
    """
    found = yield from read(api, ref)
    url = str(found.get("download_url") or "")
    if not url:
        raise TransportError(f"Avala export {ref.run_id} is {found.get('status')!r} but has no download_url.")
    # The core sends the key to the API's own origin only: a signed storage URL elsewhere gets none.
    response = yield HttpRequest("GET", url, sink=sink)
    if not 200 <= response.status < 300:
        raise TransportError(f"Downloading export {ref.run_id} got HTTP {response.status}.")
    return None
