"""Labelbox over GraphQL: jobs started from a DAG (exports), any Labelbox task waited on, exports streamed.

A Labelbox "run" is a Task object (``IN_PROGRESS`` -> ``COMPLETE`` / ``FAILED`` / ``CANCELED``). An export's
result is a stream of NDJSON chunks behind signed file URLs: ``outputs`` answers a
:class:`~airflow_remote_tasks.core.models.StreamedOutput` and ``download`` writes it, chunk by chunk.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import sqlite3
import tempfile
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import IO, Any

from airflow_remote_tasks.core.auth import HeaderAuth
from airflow_remote_tasks.core.errors import (
    ConfigurationError,
    InvalidInputsError,
    NotFoundError,
    RemoteTaskError,
    TransportError,
    is_transient,
)
from airflow_remote_tasks.core.models import (
    ListedRun,
    Progress,
    RunOrigin,
    RunRef,
    RunStatus,
    StreamedOutput,
    TaskInterface,
)
from airflow_remote_tasks.core.operation import HttpRequest, Operation, Sink, answer, starting_run
from airflow_remote_tasks.core.phases import Phase, phase_of_word
from airflow_remote_tasks.core.storage import shown
from airflow_remote_tasks.core.transport import ClientSettings
from airflow_remote_tasks.operators.output_path import Counter
from airflow_remote_tasks.platforms.labelbox import PLATFORM, queries, upserts
from airflow_remote_tasks.platforms.labelbox.config import LabelboxConfig
from airflow_remote_tasks.platforms.labelbox.graphql import call, call_with_file, upload
from airflow_remote_tasks.platforms.labelbox.jobs import (
    JOBS,
    MAX_PER_ROW_AND_FEATURE,
    DataRow,
    ExportProject,
    ImportLabels,
    ImportPredictions,
    Job,
    UpsertDataRows,
    annotation,
    data_row,
    job_inputs,
    parse_job,
)

PHASES = {
    "IN_PROGRESS": Phase.RUNNING,
    "CANCELLING": Phase.RUNNING,  # two L's on the wire; the cancel is not done yet
    "COMPLETE": Phase.SUCCEEDED,
    "FAILED": Phase.FAILED,
    "CANCELED": Phase.ABORTED,
}
ENDED = frozenset({"COMPLETE", "FAILED", "CANCELED"})
SUBMIT_ATTEMPTS = 3
RESULT_PAGE = 5000  # the SDK's page size for upsert results
MAX_FAILED_ROWS = 100  # failed rows handed to XCom; the rest are counted
NO_SET_WAITS = (
    "Labelbox filters its task listing by status only, and a set chosen by status changes as its tasks finish, "
    "so it cannot be waited on until all are done: wait on one task with RemoteRunSensor instead."
)


class RowErrorsError(RemoteTaskError):
    """Some rows were refused, and the job was told to fail on that (``fail_on_row_errors``)."""


def task_name(origin: RunOrigin) -> str:
    """The export's name, derived from the task instance: found again after an answer was lost."""
    return "airflow-" + hashlib.sha256(origin.key.encode()).hexdigest()[:24]


def parse_task_status(task: Mapping[str, Any]) -> RunStatus:
    raw = str(task.get("status") or "UNKNOWN")
    phase = phase_of_word(raw, PHASES, "Labelbox task status")
    percent = task.get("completionPercentage")
    return RunStatus(
        phase=phase,
        raw_phase=raw,
        message=_failure_text(task) if phase is Phase.FAILED else "",
        percent=float(percent) if isinstance(percent, int | float) else None,
    )


IMPORT_PHASES = {"RUNNING": Phase.RUNNING, "FINISHED": Phase.SUCCEEDED, "FAILED": Phase.FAILED}


def parse_import_status(found: Mapping[str, Any]) -> RunStatus:
    raw = str(found.get("state") or "UNKNOWN")
    phase = phase_of_word(raw, IMPORT_PHASES, "Labelbox import state")
    try:
        percent: float | None = float(str(found.get("progress") or "").rstrip("%"))
    except ValueError:
        percent = None
    message = f"errors: {found.get('errorFileUrl')}" if phase is Phase.FAILED else ""
    return RunStatus(phase=phase, raw_phase=raw, message=message, percent=percent)


def _failure_text(task: Mapping[str, Any]) -> str:
    # ``errors`` is a URL for most task types; some put a JSON error string in ``result``.
    for key in ("errors", "result"):
        value = task.get(key)
        if value:
            return f"{key}: {value}"
    return "Labelbox reported no error detail"


class LabelboxPlatform:
    name = "labelbox"
    status_batch_limit = 0  # no documented way to read several tasks by id in one call

    def __init__(
        self,
        config: LabelboxConfig,
        *,
        client_settings: ClientSettings | None = None,
        open_uri: Callable[[str], IO[bytes]] | None = None,
    ) -> None:
        self.config = config
        # Opens a rows file given by URI (the hook passes ObjectStoragePath's opener: s3://, gs://, file://...).
        self.open_uri = open_uri or (lambda uri: open(uri.removeprefix("file://"), "rb"))  # noqa: SIM115
        self.client_settings = client_settings or ClientSettings()
        self.api_origin = config.endpoint  # the only origin credentials go to (core.auth)
        self.auth = HeaderAuth("Authorization", f"Bearer {config.api_key.get_secret_value()}")
        self._user_id = ""
        self._cancelable: frozenset[str] | None = None

    def _call(self, query: str, variables: dict[str, Any] | None = None, **kwargs: Any) -> Operation[Any]:
        return call(self.config, query, variables, **kwargs)

    # -- connection and lookups ------------------------------------------------------------------

    def poll_delay(self) -> float:
        return 0.0  # no rate-limit headers to go by: 429 answers are waited out by the executors

    def check_connection(self) -> Operation[str]:
        user = (yield from self._call(queries.GET_USER, {}))["user"]
        organization = (yield from self._call(queries.GET_ORGANIZATION, {}))["organization"]
        return (
            f"Reached Labelbox at {self.config.endpoint} as {user.get('name') or user.get('email')} "
            f"<{user.get('email')}> in organization {organization.get('name')!r}."
        )

    def _user(self) -> Operation[str]:
        if not self._user_id:
            self._user_id = str((yield from self._call(queries.GET_USER, {}))["user"]["id"])
        return self._user_id

    def _check_exists(self, job: Job) -> Operation[None]:
        if isinstance(job, ExportProject | ImportLabels | ImportPredictions):
            kind, query, ident = "project", queries.GET_PROJECT, job.project_id
        else:
            kind, query, ident = "dataset", queries.GET_DATASET, job.dataset_id
        try:
            found = (yield from self._call(query, {"param_0": ident})).get(kind)
        except NotFoundError:
            found = None
        if not found:
            raise NotFoundError(
                f"No Labelbox {kind} {ident!r} is reachable with this connection's API key; check the id (the "
                f"{kind}'s URL in the app ends with it) and that the key's user can see it.",
                status=404,
                code="not_found",
            )
        return None

    # -- tasks ------------------------------------------------------------------------------------

    def resolve_task(self, task: str | Mapping[str, Any], version: str) -> Operation[TaskInterface]:
        if not isinstance(task, str) or task not in JOBS:
            raise ConfigurationError(
                f"Labelbox job {task!r} is not one this provider starts; use one of: {', '.join(JOBS)}. "
                "To wait on a Labelbox task started elsewhere, use RemoteRunSensor with its task id."
            )
        return answer(
            TaskInterface(platform=self.name, task=task, inputs=job_inputs(task), wire={"kind": task})
        )

    def prepare_inputs(self, interface: TaskInterface, inputs: Mapping[str, Any]) -> dict[str, Any]:
        job = parse_job(interface.task, dict(inputs))
        # Inline rows and annotations are checked here; a file's as the submit reads it, once, before any is sent.
        if isinstance(job, UpsertDataRows) and isinstance(job.rows, list):
            for _ in self._rows(job):
                pass
        if isinstance(job, ImportLabels | ImportPredictions) and isinstance(job.annotations, list):
            for _ in self._annotations(job):
                pass
        return dict(inputs)

    def _lines(self, source: list[dict[str, Any]] | str, what: str) -> Iterator[tuple[str, Any]]:
        """(where, value) for inline items, or for each line of an NDJSON file given by URI (named with any
        password in it masked).

        :raises InvalidInputsError: the file cannot be opened, or a line is not JSON."""
        if isinstance(source, list):
            for index, item in enumerate(source):
                yield f"{what}[{index}]", item
            return
        name = repr(shown(source))
        try:
            opened = self.open_uri(source)
        except (OSError, ValueError, ConfigurationError) as error:
            detail = str(error).replace(source, shown(source))  # an error may quote the URI
            raise InvalidInputsError(
                f"The {what} file {name} cannot be read ({type(error).__name__}: {detail}); nothing was started."
            ) from None
        with opened:
            for number, line in enumerate(opened, start=1):
                if not line.strip():
                    continue
                try:
                    yield f"line {number} of {name}", json.loads(line)
                except ValueError:
                    raise InvalidInputsError(
                        f"Line {number} of {name} is not JSON: the {what} file holds one JSON object a line "
                        "(NDJSON); nothing was started."
                    ) from None

    def _annotations(self, job: ImportLabels | ImportPredictions) -> Iterator[dict[str, Any]]:
        """Each annotation, checked as it is read; after the last, that there was one and that no data row has
        more than :data:`MAX_PER_ROW_AND_FEATURE` of one feature. Those are counted in a temporary SQLite
        database on local disk (gone once closed): a big file's (row, feature) pairs need not fit in memory.

        :raises InvalidInputsError: an annotation is not valid, there is none, or there are too many of one
            feature on one row; nothing was started."""
        what = "labels" if isinstance(job, ImportLabels) else "predictions"
        with contextlib.closing(sqlite3.connect("")) as counts:  # "": a private database on disk
            counts.execute("CREATE TABLE seen (row TEXT, feature TEXT)")
            for where, value in self._lines(job.annotations, what):
                item = annotation(value, where)
                key = (
                    json.dumps(item["dataRow"], sort_keys=True),
                    str(item.get("name") or item.get("schemaId")),
                )
                counts.execute("INSERT INTO seen VALUES (?, ?)", key)
                yield item
            if counts.execute("SELECT 1 FROM seen LIMIT 1").fetchone() is None:
                raise InvalidInputsError(f"The {what} hold no annotation; nothing was started.")
            over = counts.execute(
                "SELECT row, feature FROM seen GROUP BY row, feature HAVING COUNT(*) > ? LIMIT 1",
                (MAX_PER_ROW_AND_FEATURE,),
            ).fetchone()
        if over is not None:
            raise InvalidInputsError(
                f"More than {MAX_PER_ROW_AND_FEATURE} {what} of feature {over[1]!r} on data row {over[0]}: "
                "Labelbox refuses that many; nothing was started."
            )

    def _rows(self, job: UpsertDataRows) -> Iterator[DataRow]:
        for where, value in self._lines(job.rows, "rows"):
            yield data_row(value, where)

    def submit(
        self,
        interface: TaskInterface,
        wire_inputs: dict[str, Any],
        *,
        origin: RunOrigin,
        labels: Mapping[str, str],
        env: Mapping[str, str],
    ) -> Operation[RunRef]:
        if env:
            raise ConfigurationError("Labelbox jobs take no environment variables.")
        job = parse_job(interface.task, wire_inputs)
        yield from self._check_exists(job)
        if isinstance(job, UpsertDataRows):
            return (yield from self._upsert(job))
        name = task_name(origin)
        if isinstance(job, ImportLabels | ImportPredictions):
            return (yield from self._import(job, name))
        if isinstance(job, ExportProject):
            mutation, field = queries.EXPORT_PROJECT, "exportDataRowsInProject"
        else:
            mutation, field = queries.EXPORT_CATALOG, "exportDataRowsInCatalog"
        # An export links to what it exports: the project, or the dataset in the catalog.
        link = (
            self.config.project_url(job.project_id)
            if isinstance(job, ExportProject)
            else self.config.dataset_url(job.dataset_id)
        )
        # An export has no idempotency key: its name is looked up among the user's tasks before every create.
        for attempt in range(1, SUBMIT_ATTEMPTS + 1):
            found = yield from self._created_task_named(name)
            if found is not None:
                return self._ref(found["id"], via="user", url=link)
            try:
                data = yield from starting_run(
                    self._call(mutation, {"input": job.wire(name)}, idempotent=False)
                )
            except RemoteTaskError as error:
                if attempt == SUBMIT_ATTEMPTS or not is_transient(error):
                    raise
                continue
            return self._ref(str(data[field]["taskId"]), via="user", url=link)
        raise AssertionError("unreachable")

    def _upsert(self, job: UpsertDataRows) -> Operation[RunRef]:
        """Upload the rows in chunks, each after looking up which of its global keys name a row (those keyed,
        the others created), a manifest naming them, then start the upsert. The start is not repeated as such:
        after a transient failure (an answer lost, perhaps after Labelbox acted) the keys are looked up again
        first, so rows the lost attempt created are keyed this time, not created twice.

        :raises InvalidInputsError: a row (of a file: a line) is not a valid data row, or there are none;
            nothing was sent. :raises ApiError: a lookup or the start failed."""
        scope = {"via": "user", "fail_on_row_errors": "true" if job.fail_on_row_errors else "false"}
        # The rows, checked, in a local file (gone once closed) that each attempt's chunks are cut from: a rows
        # file on object storage is read once, and memory stays flat whatever its size.
        with tempfile.TemporaryFile() as spool:
            upserts.spool(map(upserts.line, self._rows(job)), spool)
            for attempt in range(1, SUBMIT_ATTEMPTS + 1):
                chunks = yield from upserts.upload_rows(self.config, upserts.spooled(spool), job.dataset_id)
                if not chunks:
                    raise InvalidInputsError("upsert_data_rows got no rows; nothing was started.")
                manifest = json.dumps(
                    {"source": "SDK", "item_count": len(chunks), "chunk_uris": chunks}
                ).encode()
                manifest_url = yield from upload(self.config, "manifest.json", "application/json", manifest)
                try:
                    data = yield from starting_run(
                        self._call(queries.UPSERT_DATA_ROWS, {"manifestUri": manifest_url}, idempotent=False)
                    )
                except RemoteTaskError as error:
                    if attempt == SUBMIT_ATTEMPTS or not is_transient(error):
                        raise
                    continue
                task_id = str(data["upsertDataRows"]["id"])
                return RunRef(
                    platform=self.name, run_id=task_id, scope=scope, url=self.config.task_url(task_id)
                )
            raise AssertionError("unreachable")

    def _import(self, job: ImportLabels | ImportPredictions, name: str) -> Operation[RunRef]:
        """Create the import under a name derived from the task instance, unless one by that name exists:
        Labelbox polls imports by (project, name), so a retry, or a create whose answer was lost, attaches.

        :raises InvalidInputsError: see :meth:`_annotations`; nothing was sent. :raises ApiError: the create
            failed."""
        kind = "label_import" if isinstance(job, ImportLabels) else "prediction_import"
        # The annotations, checked, in a local file (gone once closed) that each attempt sends: a file given by
        # URI is read once, and memory stays flat whatever its size.
        with tempfile.TemporaryFile() as spool:
            upserts.spool(_with_uuids(self._annotations(job), name), spool)
            return (yield from self._create_import(job, kind, name, spool))

    def _create_import(
        self, job: ImportLabels | ImportPredictions, kind: str, name: str, spool: IO[bytes]
    ) -> Operation[RunRef]:
        create, field = (
            (queries.CREATE_LABEL_IMPORT, "createLabelImport")
            if kind == "label_import"
            else (queries.CREATE_PREDICTION_IMPORT, "createModelAssistedLabelingPredictionImport")
        )
        scope = {
            "kind": kind,
            "project": job.project_id,
            "name": name,
            "fail_on_row_errors": "true" if job.fail_on_row_errors else "false",
        }
        for attempt in range(1, SUBMIT_ATTEMPTS + 1):
            found = yield from self._import_named(kind, job.project_id, name)
            if found is not None and found.get("state") != "FAILED":
                break
            try:
                found = (
                    yield from starting_run(
                        call_with_file(
                            self.config,
                            create,
                            {"projectId": job.project_id, "name": name},
                            part=f"{job.project_id}__{name}.ndjson",
                            filename=f"{job.project_id}__{name}.ndjson",
                            content_type="application/x-ndjson",
                            data=spool,
                            idempotent=False,
                        )
                    )
                )[field]
            except RemoteTaskError as error:
                if attempt == SUBMIT_ATTEMPTS or not is_transient(error):
                    raise
                continue
            break
        assert found is not None
        return RunRef(
            platform=self.name,
            run_id=str(found["id"]),
            scope=scope,
            url=self.config.project_url(job.project_id),
        )

    def _import_named(self, kind: str, project_id: str, name: str) -> Operation[dict[str, Any] | None]:
        query, field = (
            (queries.GET_LABEL_IMPORT, "labelImport")
            if kind == "label_import"
            else (queries.GET_PREDICTION_IMPORT, "modelAssistedLabelingPredictionImport")
        )
        try:
            found = (yield from self._call(query, {"projectId": project_id, "name": name})).get(field)
        except NotFoundError:
            return None
        return dict(found) if found else None

    def _import_of(self, ref: RunRef) -> Operation[dict[str, Any]]:
        found = yield from self._import_named(ref.scope["kind"], ref.scope["project"], ref.scope["name"])
        if found is None:
            raise NotFoundError(
                f"Labelbox import {ref.scope['name']!r} is gone.", status=404, code="not_found"
            )
        return found

    def _created_task_named(self, name: str) -> Operation[dict[str, Any] | None]:
        user = yield from self._user()
        tasks = (yield from self._call(queries.LIST_CREATED_TASKS, {"param_0": user}))["user"]["createdTasks"]
        for task in tasks or []:
            if task.get("name") == name and task.get("status") not in ("FAILED", "CANCELED"):
                return dict(task)
        return None

    def _ref(self, task_id: str, *, via: str, url: str = "") -> RunRef:
        return RunRef(
            platform=self.name, run_id=task_id, scope={"via": via}, url=url or self.config.task_url(task_id)
        )

    def find_run(self, run_id: str) -> Operation[RunRef]:
        run_id = PLATFORM.check_run_id(run_id)
        for via in ("user", "organization"):
            task = yield from self._task(run_id, via)
            if task is not None:
                return self._ref(run_id, via=via)
        raise NotFoundError(
            f"No Labelbox task {run_id!r} among this key's user's tasks or the organization's.",
            status=404,
            code="not_found",
        )

    def _task(self, task_id: str, via: str) -> Operation[dict[str, Any] | None]:
        try:
            if via == "user":
                user = yield from self._user()
                data = yield from self._call(queries.GET_CREATED_TASK, {"param_0": task_id, "param_1": user})
                tasks = (data.get("user") or {}).get("createdTasks") or []
            else:
                data = yield from self._call(queries.GET_ORGANIZATION_TASK, {"param_0": task_id})
                tasks = (data.get("organization") or {}).get("tasks") or []
        except NotFoundError:
            return None
        match = [t for t in tasks if t.get("id") == task_id]
        return dict(match[0]) if match else None

    def _task_of(self, ref: RunRef) -> Operation[dict[str, Any]]:
        task = yield from self._task(ref.run_id, ref.scope.get("via", "user"))
        if task is None:
            raise NotFoundError(f"Labelbox task {ref.run_id!r} is gone.", status=404, code="not_found")
        return task

    def status(self, ref: RunRef) -> Operation[RunStatus]:
        if ref.scope.get("kind", "").endswith("_import"):
            return parse_import_status((yield from self._import_of(ref)))
        return parse_task_status((yield from self._task_of(ref)))

    def statuses(self, refs: Sequence[RunRef]) -> Operation[dict[str, RunStatus]]:
        return answer({})

    def outputs(self, ref: RunRef) -> Operation[Any]:
        if ref.scope.get("kind", "").endswith("_import"):
            return (yield from self._import_outcome(ref))
        task = yield from self._task_of(ref)
        if str(task.get("type", "")).lower() == "adv-upsert-data-rows":
            return (yield from self._upsert_outcome(ref))
        if str(task.get("type", "")).lower() != "export-data-rows":
            return {key: task.get(key) for key in ("id", "name", "type", "status", "result", "errors")}
        sizes: dict[str, int | None] = {}
        rows: dict[str, int] = {}  # the SDK reads an export line by line up to totalLines: they are its rows
        for stream in ("RESULT", "ERRORS"):
            header = yield from self._export_header(ref.run_id, stream)
            sizes[stream.lower()] = int(header["totalSize"]) if header else 0
            rows[stream.lower()] = int(header["totalLines"]) if header else 0
        return StreamedOutput(run_id=ref.run_id, format="ndjson", sizes=sizes, rows=rows)

    def _import_outcome(self, ref: RunRef) -> Operation[dict[str, Any]]:
        """Per-annotation statuses, read from the status file as it streams (it has a line per annotation)."""
        found = yield from self._import_of(ref)
        tally = _StatusTally()
        if found.get("statusFileUrl"):
            response = yield HttpRequest("GET", str(found["statusFileUrl"]), authenticate=False, sink=tally)
            if not 200 <= response.status < 300:
                raise TransportError(
                    f"The status file of import {ref.scope['name']!r} got HTTP {response.status}."
                )
        tally.close()
        outcome = {
            "run_id": ref.run_id,
            "name": ref.scope["name"],
            "succeeded": tally.succeeded,
            "failed": tally.failed,
            "failures": tally.failures,
        }
        if tally.failed and ref.scope.get("fail_on_row_errors", "true") == "true":
            first = tally.failures[0].get("errors") if tally.failures else "no detail"
            raise RowErrorsError(
                f"Labelbox imported {tally.succeeded} annotations and refused {tally.failed} (first: {first}); set "
                "fail_on_row_errors=False in the inputs to succeed with the failures in XCom instead. "
                f"{ref.url}".rstrip()
            )
        return outcome

    def _upsert_outcome(self, ref: RunRef) -> Operation[dict[str, Any]]:
        """Counts, and the failed rows with their errors (the first :data:`MAX_FAILED_ROWS`)."""
        succeeded = yield from self._call(
            queries.UPSERT_SUCCESSES, {"taskId": ref.run_id, "first": 1, "from": None}
        )
        total = int(succeeded["successesfulDataRowImports"]["total"] or 0)
        failures: list[dict[str, Any]] = []
        failed_total = 0
        cursor: str | None = None
        while True:
            page = (
                yield from self._call(
                    queries.UPSERT_FAILURES, {"taskId": ref.run_id, "first": RESULT_PAGE, "from": cursor}
                )
            )["failedDataRowImports"]
            failed_total = int(page["total"] or 0)
            failures += [{"message": r["message"], "row": r["spec"]} for r in page["results"] or []]
            cursor = page.get("after")
            if not cursor or len(failures) >= MAX_FAILED_ROWS:
                break
        outcome = {
            "run_id": ref.run_id,
            "succeeded": total,
            "failed": failed_total,
            "failures": failures[:MAX_FAILED_ROWS],
        }
        if failed_total and ref.scope.get("fail_on_row_errors", "true") == "true":
            first = failures[0]["message"] if failures else "no detail"
            raise RowErrorsError(
                f"Labelbox upserted {total} rows and refused {failed_total} (first: {first!r}); set "
                "fail_on_row_errors=False in the inputs to succeed with the failures in XCom instead. "
                f"{ref.url}".rstrip()
            )
        return outcome

    def _export_header(self, task_id: str, stream: str) -> Operation[dict[str, Any] | None]:
        data = yield from self._call(queries.EXPORT_HEADER, {"where": {"id": task_id}, "streamType": stream})
        header = (data.get("task") or {}).get("exportMetadataHeader")
        return dict(header) if header else None

    def check_selector(self, selector: Mapping[str, Any]) -> dict[str, Any]:
        raise ConfigurationError(NO_SET_WAITS)

    def list_runs(self, selector: Mapping[str, Any]) -> Operation[list[ListedRun]]:
        raise ConfigurationError(NO_SET_WAITS)

    def download(self, ref: RunRef, stream: str, sink: Sink) -> Operation[None]:
        """Each chunk is a byte range behind a signed URL, fetched without the API key (another origin)."""
        kind = stream.upper()
        header = yield from self._export_header(ref.run_id, kind)
        total = int(header["totalSize"]) if header else 0
        counted = Counter(sink)
        offset = 0
        while offset < total:
            data = yield from self._call(
                queries.EXPORT_FILE, {"where": {"id": ref.run_id}, "streamType": kind, "offset": str(offset)}
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

    def progress(self, ref: RunRef, seen: int) -> Operation[Progress]:
        return answer(Progress(lines=[], seen=seen))

    def logs(self, ref: RunRef, status: RunStatus, max_lines: int) -> Operation[list[str]]:
        return answer([])

    def resume(self, ref: RunRef, inputs: Mapping[str, Any]) -> Operation[None]:
        raise ConfigurationError("Labelbox tasks do not wait for input: there is nothing to resume.")

    def abort(self, ref: RunRef, reason: str) -> Operation[bool]:
        """Cancel the task where Labelbox can (``cancelableTaskTypes``); False where it cannot, and it goes on."""
        if ref.scope.get("kind", "").endswith("_import"):
            return False  # Labelbox has no way to stop an import: it goes on
        try:
            task = yield from self._task_of(ref)
        except NotFoundError:
            return True
        if task.get("status") in ENDED:
            return True
        if self._cancelable is None:
            types = (yield from self._call(queries.GET_CANCELABLE_TASK_TYPES, None))["cancelableTaskTypes"]
            self._cancelable = frozenset(_kebab(t) for t in types or [])
        if str(task.get("type", "")).lower() not in self._cancelable:
            return False
        if task.get("status") == "CANCELLING":
            return True
        # Cancelling twice asks for what is already asked: safe to repeat.
        yield from self._call(queries.CANCEL_TASK, {"id": ref.run_id}, idempotent=True)
        return True


def _kebab(name: str) -> str:
    """``exportDataRows`` / ``ExportDataRows`` -> ``export-data-rows``, as the SDK compares them."""
    return re.sub(r"(?<!^)(?=[A-Z])", "-", str(name)).lower().replace("_", "-")


def _with_uuids(annotations: Iterator[dict[str, Any]], name: str) -> Iterator[bytes]:
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
