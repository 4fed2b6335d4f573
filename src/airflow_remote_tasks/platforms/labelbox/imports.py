"""Label and prediction imports: NDJSON annotations sent as one file, under a name derived from the task
instance. Labelbox polls imports by (project, name), not as Task objects: a retry, or a create whose answer
was lost, finds the import by its name and attaches."""

from __future__ import annotations

import json
import tempfile
import uuid
from collections.abc import Iterable, Iterator
from typing import IO, Any, NamedTuple

from airflow_remote_tasks.core.create_once import create_once
from airflow_remote_tasks.core.errors import NotFoundError, TransportError
from airflow_remote_tasks.core.models import RunRef, RunStatus
from airflow_remote_tasks.core.operation import HttpRequest, Operation
from airflow_remote_tasks.core.phases import Phase, phase_of_word
from airflow_remote_tasks.platforms.labelbox import PLATFORM, queries
from airflow_remote_tasks.platforms.labelbox.config import LabelboxConfig
from airflow_remote_tasks.platforms.labelbox.graphql import call, call_with_file
from airflow_remote_tasks.platforms.labelbox.jobs import ImportLabels, ImportPredictions
from airflow_remote_tasks.platforms.labelbox.row_errors import MAX_FAILED_ROWS, check_refused
from airflow_remote_tasks.platforms.labelbox.upserts import spool

PHASES = {"RUNNING": Phase.RUNNING, "FINISHED": Phase.SUCCEEDED, "FAILED": Phase.FAILED}


class ImportCalls(NamedTuple):
    """The calls of one kind of import: its create, and its lookup by project and name, each with the field
    its answer is under."""

    create: str
    created: str
    lookup: str
    found: str


# The import's kind, as its run reference's scope names it -> its calls.
KINDS = {
    "label_import": ImportCalls(
        queries.CREATE_LABEL_IMPORT, "createLabelImport", queries.GET_LABEL_IMPORT, "labelImport"
    ),
    "prediction_import": ImportCalls(
        queries.CREATE_PREDICTION_IMPORT,
        "createModelAssistedLabelingPredictionImport",
        queries.GET_PREDICTION_IMPORT,
        "modelAssistedLabelingPredictionImport",
    ),
}


def is_import(ref: RunRef) -> bool:
    return str(ref.scope.get("kind", "")).endswith("_import")


def parse_status(found: dict[str, Any]) -> RunStatus:
    raw = str(found.get("state") or "UNKNOWN")
    phase = phase_of_word(raw, PHASES, "Labelbox import state")
    try:
        percent: float | None = float(str(found.get("progress") or "").rstrip("%"))
    except ValueError:
        percent = None
    message = f"errors: {found.get('errorFileUrl')}" if phase is Phase.FAILED else ""
    return RunStatus(phase=phase, raw_phase=raw, message=message, percent=percent)


def start(
    config: LabelboxConfig,
    job: ImportLabels | ImportPredictions,
    annotations: Iterable[dict[str, Any]],
    name: str,
) -> Operation[RunRef]:
    """Create the import called ``name``, unless one by that name exists that has not failed.

    :raises InvalidInputsError: an annotation is not valid (as ``annotations`` checks them as they are read);
        nothing was sent. :raises ApiError: a lookup failed, or the last create (see :func:`create_once`)."""
    kind = "label_import" if isinstance(job, ImportLabels) else "prediction_import"
    # The annotations, checked, in a local file (gone once closed) that each attempt sends: a file given by
    # URI is read once, and memory stays flat whatever its size.
    with tempfile.TemporaryFile() as annotations_file:
        spool(_with_uuids(annotations, name), annotations_file)
        return (yield from _create(config, job, kind, name, annotations_file))


def _create(
    config: LabelboxConfig,
    job: ImportLabels | ImportPredictions,
    kind: str,
    name: str,
    annotations_file: IO[bytes],
) -> Operation[RunRef]:
    calls = KINDS[kind]
    project_id = job.project_id
    scope: dict[str, Any] = {
        "kind": kind,
        "project": project_id,
        "name": name,
        "fail_on_row_errors": job.fail_on_row_errors,
    }

    def ref(found: dict[str, Any]) -> RunRef:
        return RunRef(
            platform=PLATFORM.name, run_id=str(found["id"]), scope=scope, url=config.project_url(project_id)
        )

    def attached() -> Operation[RunRef | None]:
        found = yield from named(config, kind, project_id, name)
        return ref(found) if found is not None and found.get("state") != "FAILED" else None

    def created() -> Operation[RunRef]:
        data = yield from call_with_file(
            config,
            calls.create,
            {"projectId": project_id, "name": name},
            part=f"{project_id}__{name}.ndjson",
            filename=f"{project_id}__{name}.ndjson",
            content_type="application/x-ndjson",
            data=annotations_file,
            idempotent=False,
        )
        return ref(data[calls.created])

    return (yield from create_once(attached, created))


def named(config: LabelboxConfig, kind: str, project_id: str, name: str) -> Operation[dict[str, Any] | None]:
    """The project's import of that kind and name, if any."""
    calls = KINDS[kind]
    try:
        data = yield from call(config, calls.lookup, {"projectId": project_id, "name": name})
        found = data.get(calls.found)
    except NotFoundError:
        return None
    return dict(found) if found else None


def of(config: LabelboxConfig, ref: RunRef) -> Operation[dict[str, Any]]:
    """:raises NotFoundError: the import is gone."""
    found = yield from named(config, ref.scope["kind"], ref.scope["project"], ref.scope["name"])
    if found is None:
        raise NotFoundError(f"Labelbox import {ref.scope['name']!r} is gone.", status=404, code="not_found")
    return found


def outcome(config: LabelboxConfig, ref: RunRef) -> Operation[dict[str, Any]]:
    """Per-annotation statuses, read from the status file as it streams (it has a line per annotation).

    :raises TransportError: the status file could not be read. :raises RowErrorsError: annotations were
        refused and the job fails on that."""
    found = yield from of(config, ref)
    tally = _StatusTally()
    if found.get("statusFileUrl"):
        response = yield HttpRequest("GET", str(found["statusFileUrl"]), authenticate=False, sink=tally)
        if not 200 <= response.status < 300:
            raise TransportError(
                f"The status file of import {ref.scope['name']!r} got HTTP {response.status}."
            )
    tally.close()
    first = tally.failures[0].get("errors") if tally.failures else "no detail"
    check_refused(ref, f"imported {tally.succeeded} annotations", tally.failed, str(first))
    return {
        "run_id": ref.run_id,
        "name": ref.scope["name"],
        "succeeded": tally.succeeded,
        "failed": tally.failed,
        "failures": tally.failures,
    }


def _with_uuids(annotations: Iterable[dict[str, Any]], name: str) -> Iterator[bytes]:
    """Each annotation as a JSON line, with a stable uuid where none is given: the status file reports each
    annotation by it."""
    for index, item in enumerate(annotations):
        uid = item.get("uuid") or str(uuid.uuid5(uuid.NAMESPACE_URL, f"labelbox:{name}:{index}"))
        yield json.dumps({**item, "uuid": uid}).encode()


class _StatusTally:
    """Reads an import's status file as it arrives: counts each line's status, keeps the first failures."""

    def __init__(self) -> None:
        self.succeeded = 0
        self.failed = 0
        self.failures: list[dict[str, Any]] = []
        self._rest = b""

    def write(self, data: bytes) -> None:
        *lines, self._rest = (self._rest + data).split(b"\n")
        for line in lines:
            self._count(line)

    def close(self) -> None:
        self._count(self._rest)
        self._rest = b""

    def _count(self, line: bytes) -> None:
        if not line.strip():
            return
        try:
            entry = json.loads(line)
        except ValueError:
            return
        if entry.get("status") == "SUCCESS":
            self.succeeded += 1
            return
        self.failed += 1
        if len(self.failures) < MAX_FAILED_ROWS:
            self.failures.append(entry)
