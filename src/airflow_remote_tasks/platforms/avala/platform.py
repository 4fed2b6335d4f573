"""Avala as a platform: annotation tasks waited on (one, or a set: :mod:`.tasks`), exports streamed to storage
(:mod:`.exports`), auto-label jobs (:mod:`.auto_label`), over its REST API (:mod:`.api`).

People do Avala's annotation tasks: nothing here starts one. A DAG waits on them (``RemoteRunSensor`` on one
task uid, ``RemoteRunsSensor`` on a project's set), and starts the jobs that follow: an export, an auto-label
job.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from airflow_remote_tasks.core.arguments import invalid_inputs
from airflow_remote_tasks.core.auth import HeaderAuth
from airflow_remote_tasks.core.errors import ConfigurationError, InvalidInputsError
from airflow_remote_tasks.core.events import EndedRun, EventFilter
from airflow_remote_tasks.core.models import (
    InputSpec,
    ListedRun,
    RunOrigin,
    RunRef,
    RunStatus,
    TaskInterface,
)
from airflow_remote_tasks.core.operation import Operation, Sink, returns
from airflow_remote_tasks.core.platform import Platform
from airflow_remote_tasks.core.transport import ClientSettings
from airflow_remote_tasks.platforms.avala import PLATFORM, auto_label, events, exports, tasks
from airflow_remote_tasks.platforms.avala.api import AvalaApi
from airflow_remote_tasks.platforms.avala.auto_label import AutoLabel
from airflow_remote_tasks.platforms.avala.config import AvalaConfig
from airflow_remote_tasks.platforms.avala.exports import Export
from airflow_remote_tasks.platforms.avala.runs import StatusWords, kind_of, read

JOBS: dict[str, type[Export | AutoLabel]] = {"export": Export, "auto_label": AutoLabel}
# What a finished run of each kind gives, from the run as the API answers it: an export its file (a stream), an
# auto-label job its counts, a person's task the task itself.
OUTPUTS: dict[str, Callable[[RunRef, dict[str, Any]], Any]] = {
    "export": lambda ref, found: exports.export_output(ref),
    "auto_label": auto_label.summary,
    "task": lambda ref, found: found,
}


class AvalaPlatform(Platform):
    """Avala's annotation tasks (waited on, one or a project's set), exports (streamed), auto-label jobs
    (cancelled on abort); polls slowed to its rate limit. Tasks are read one by one, sets through the task
    listing."""

    declaration = PLATFORM

    def __init__(self, config: AvalaConfig, *, client_settings: ClientSettings | None = None) -> None:
        self.config = config
        self.client_settings = client_settings or ClientSettings()
        self.api_origin = config.base_url  # the only origin credentials go to (core.auth)
        self.auth = HeaderAuth("X-Avala-Api-Key", config.api_key.get_secret_value())
        self.api = AvalaApi(config)
        self.words = StatusWords(config.status_overrides)
        self.task_listings = tasks.TaskListings(self.api, self.words)

    def poll_delay(self) -> float:
        return self.api.poll_delay()

    def check_connection(self) -> Operation[str]:
        page = yield from self.api.call("GET", "users/me/projects", params={"limit": 1}, shape="page")
        seen = "a project" if page["results"] else "no project yet"
        return f"Reached Avala at {self.config.base_url}; the key sees {seen}."

    # -- jobs ---------------------------------------------------------------------------------------

    def resolve_task(self, task: str | Mapping[str, Any], version: str) -> Operation[TaskInterface]:
        if not isinstance(task, str) or task not in JOBS:
            raise ConfigurationError(
                f"Avala job {task!r} is not one this provider starts; use one of: {', '.join(JOBS)}. Annotation "
                "tasks are done by people: wait on them with RemoteRunSensor (one) or RemoteRunsSensor (a set)."
            )
        model = JOBS[task]
        inputs = [
            InputSpec(
                name=n, type=str(f.annotation), required=f.is_required(), has_default=not f.is_required()
            )
            for n, f in model.model_fields.items()
        ]
        return returns(TaskInterface(platform=self.name, task=task, inputs=inputs, wire={"kind": task}))

    def prepare_inputs(self, interface: TaskInterface, inputs: Mapping[str, Any]) -> Export | AutoLabel:
        """The job ``inputs`` describe, handed to :meth:`submit` as it is.

        :raises InvalidInputsError: naming each input that does not fit the job, or an export given both or
            neither of ``project`` and ``dataset``."""
        job = _parse(interface.task, inputs)
        if isinstance(job, Export) and bool(job.project) == bool(job.dataset):
            raise InvalidInputsError(
                "An Avala export takes exactly one of 'project' or 'dataset'; nothing was started."
            )
        return job

    def submit(
        self,
        interface: TaskInterface,
        job: Export | AutoLabel,
        *,
        origin: RunOrigin,
        labels: Mapping[str, str],
        env: Mapping[str, str],
    ) -> Operation[RunRef]:
        if isinstance(job, Export):
            return (yield from exports.start_export(self.api, job))
        return (yield from auto_label.start_auto_label(self.api, self.words, job))

    # -- reading ------------------------------------------------------------------------------------

    def find_run(self, run_id: str) -> Operation[RunRef]:
        return tasks.find_task(self.api, run_id)

    def status(self, ref: RunRef) -> Operation[RunStatus]:
        found = yield from read(self.api, ref)
        return self.words.status_of(kind_of(ref), found)

    def outputs(self, ref: RunRef) -> Operation[Any]:
        found = yield from read(self.api, ref)
        return OUTPUTS[kind_of(ref)](ref, found)

    def download(self, ref: RunRef, stream: str, sink: Sink) -> Operation[None]:
        return exports.download(self.api, ref, sink)

    def abort(self, ref: RunRef, reason: str) -> Operation[bool]:
        """Auto-label jobs are cancelled (``DELETE``); exports and people's tasks cannot be stopped."""
        if ref.scope.get("kind") != "auto_label":
            return returns(False)
        return auto_label.cancel(self.api, ref)

    # -- sets ---------------------------------------------------------------------------------------

    def check_selector(self, selector: Mapping[str, Any]) -> dict[str, Any]:
        return tasks.check_selector(selector)

    def list_runs(self, selector: Mapping[str, Any]) -> Operation[list[ListedRun]]:
        return self.task_listings.list_runs(selector)

    # -- events -------------------------------------------------------------------------------------

    @classmethod
    def check_event_filter(cls, event_filter: Mapping[str, Any]) -> EventFilter:
        return events.check_event_filter(event_filter)

    def ended_runs(self, listing: Mapping[str, Any], since: datetime) -> Operation[list[EndedRun]]:
        return events.task_changes(self.api, listing, since)


def _parse(kind: str, inputs: Mapping[str, Any]) -> Export | AutoLabel:
    try:
        return JOBS[kind].model_validate(dict(inputs))
    except ValidationError as error:
        raise invalid_inputs(error, JOBS[kind], f"Inputs for Avala job {kind!r}") from None
