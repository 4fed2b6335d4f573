"""Labelbox over GraphQL: jobs started from a DAG (exports, data-row upserts, label and prediction imports), any
Labelbox task waited on, exports streamed.

A Labelbox "run" is a Task object (:mod:`.tasks`), or an import (:mod:`.imports`). An export's result is a stream
of NDJSON chunks: ``outputs`` answers a :class:`~airflow_remote_tasks.core.models.StreamedOutput` and
``download`` writes it, chunk by chunk (:mod:`.exports`). Asset watchers see a project's exports that end, or
its data rows that reach a workflow status, read from an export a poll (:mod:`.events`, :mod:`.labels`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from airflow_remote_tasks.core.auth import HeaderAuth
from airflow_remote_tasks.core.errors import ConfigurationError, NotFoundError
from airflow_remote_tasks.core.events import EndedRun, EventFilter
from airflow_remote_tasks.core.models import RunOrigin, RunRef, RunStatus, TaskInterface
from airflow_remote_tasks.core.operation import Operation, Sink, returns
from airflow_remote_tasks.core.platform import Platform
from airflow_remote_tasks.core.transport import ClientSettings
from airflow_remote_tasks.platforms.labelbox import (
    PLATFORM,
    events,
    exports,
    imports,
    items,
    labels,
    queries,
    upserts,
)
from airflow_remote_tasks.platforms.labelbox.config import LabelboxConfig
from airflow_remote_tasks.platforms.labelbox.graphql import call
from airflow_remote_tasks.platforms.labelbox.jobs import (
    JOBS,
    DataRow,
    ExportDataset,
    ImportLabels,
    ImportPredictions,
    Job,
    PreparedJob,
    UpsertDataRows,
    job_inputs,
    parse_job,
    task_name,
)
from airflow_remote_tasks.platforms.labelbox.tasks import Tasks, parse_task_status


class LabelboxPlatform(Platform):
    """Labelbox's jobs and tasks (capabilities: abort, streamed outputs). Its task listing filters by status
    only, there is no documented way to read several tasks by id in one call, and no rate-limit headers to go
    by (429 answers are waited out by the executors)."""

    declaration = PLATFORM

    def __init__(
        self,
        config: LabelboxConfig,
        *,
        client_settings: ClientSettings | None = None,
        open_uri: items.OpenUri | None = None,
    ) -> None:
        self.config = config
        # Opens a rows or annotations file given by URI.
        self.open_uri = open_uri or items.open_local
        self.client_settings = client_settings or ClientSettings()
        self.api_origin = config.endpoint  # the only origin credentials go to (core.auth)
        self.auth = HeaderAuth("Authorization", f"Bearer {config.api_key.get_secret_value()}")
        self.tasks = Tasks(config)

    # -- connection and jobs ----------------------------------------------------------------------

    def check_connection(self) -> Operation[str]:
        user = (yield from call(self.config, queries.GET_USER, {}))["user"]
        organization = (yield from call(self.config, queries.GET_ORGANIZATION, {}))["organization"]
        return (
            f"Reached Labelbox at {self.config.endpoint} as {user.get('name') or user.get('email')} "
            f"<{user.get('email')}> in organization {organization.get('name')!r}."
        )

    def resolve_task(self, task: str | Mapping[str, Any], version: str) -> Operation[TaskInterface]:
        if not isinstance(task, str) or task not in JOBS:
            raise ConfigurationError(
                f"Labelbox job {task!r} is not one this provider starts; use one of: {', '.join(JOBS)}. "
                "To wait on a Labelbox task started elsewhere, use RemoteRunSensor with its task id."
            )
        return returns(
            TaskInterface(platform=self.name, task=task, inputs=job_inputs(task), wire={"kind": task})
        )

    def prepare_inputs(self, interface: TaskInterface, inputs: Mapping[str, Any]) -> PreparedJob:
        """The job, parsed; inline rows and annotations checked here, a file's as the submit reads it, once,
        before any is sent.

        :raises InvalidInputsError: naming each problem."""
        job = parse_job(interface.task, dict(inputs))
        if isinstance(job, UpsertDataRows) and isinstance(job.rows, list):
            return PreparedJob(job, list(self._rows(job)))
        if isinstance(job, ImportLabels | ImportPredictions) and isinstance(job.annotations, list):
            return PreparedJob(job, list(self._annotations(job)))
        return PreparedJob(job)

    def submit(
        self,
        interface: TaskInterface,
        job: PreparedJob,
        *,
        origin: RunOrigin,
        labels: Mapping[str, str],
        env: Mapping[str, str],
    ) -> Operation[RunRef]:
        parsed, checked = job.job, job.checked
        yield from self._check_exists(parsed)
        if isinstance(parsed, UpsertDataRows):
            rows = self._rows(parsed) if checked is None else checked
            return (yield from upserts.start(self.config, parsed, rows))
        name = task_name(origin)
        if isinstance(parsed, ImportLabels | ImportPredictions):
            annotations = self._annotations(parsed) if checked is None else checked
            return (yield from imports.start(self.config, parsed, annotations, name))
        return (yield from exports.start(self.tasks, parsed, name))

    def _rows(self, job: UpsertDataRows) -> Iterator[DataRow]:
        return items.read_rows(self.open_uri, job.rows)

    def _annotations(self, job: ImportLabels | ImportPredictions) -> Iterator[dict[str, Any]]:
        return items.read_annotations(self.open_uri, job)

    def _check_exists(self, job: Job) -> Operation[None]:
        """:raises NotFoundError: the job's project or dataset is not reachable with the connection's key."""
        if isinstance(job, ExportDataset | UpsertDataRows):
            kind, query, ident = "dataset", queries.GET_DATASET, job.dataset_id
        else:
            kind, query, ident = "project", queries.GET_PROJECT, job.project_id
        try:
            found = (yield from call(self.config, query, {"param_0": ident})).get(kind)
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

    # -- runs -------------------------------------------------------------------------------------

    def find_run(self, run_id: str) -> Operation[RunRef]:
        return (yield from self.tasks.find(PLATFORM.check_run_id(run_id)))

    def status(self, ref: RunRef) -> Operation[RunStatus]:
        if imports.is_import(ref):
            return imports.parse_status((yield from imports.of(self.config, ref)))
        return parse_task_status((yield from self.tasks.of(ref)))

    def outputs(self, ref: RunRef) -> Operation[Any]:
        if imports.is_import(ref):
            return (yield from imports.outcome(self.config, ref))
        task = yield from self.tasks.of(ref)
        kind = str(task.get("type", "")).lower()
        if kind == "adv-upsert-data-rows":
            return (yield from upserts.outcome(self.config, ref))
        if kind == "export-data-rows":
            return (yield from exports.outputs(self.config, ref))
        return {key: task.get(key) for key in ("id", "name", "type", "status", "result", "errors")}

    def download(self, ref: RunRef, stream: str, sink: Sink) -> Operation[None]:
        return (yield from exports.download(self.config, ref, stream, sink))

    @classmethod
    def check_event_filter(cls, event_filter: Mapping[str, Any]) -> EventFilter:
        return events.check_event_filter(event_filter)

    def ended_runs(self, listing: Mapping[str, Any], since: datetime) -> Operation[list[EndedRun]]:
        if listing.get("watch") == "labels":
            return (yield from labels.reached(self.tasks, listing, since))
        return (yield from events.ended_exports(self.config, listing, since))

    def abort(self, ref: RunRef, reason: str) -> Operation[bool]:
        """Cancel the task where Labelbox can; False where it cannot (imports, some task types): it goes on."""
        if imports.is_import(ref):
            return False  # Labelbox has no way to stop an import: it goes on
        return (yield from self.tasks.cancel(ref))
