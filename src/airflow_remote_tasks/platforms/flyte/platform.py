"""Flyte 2 / Union as a platform: what every platform does, and its capabilities (abort, listing runs, batched
status reads, logs, asset events of runs that end, run updates streamed to the triggerer's waits), each
answered by the module of its responsibility."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from airflow_remote_tasks.core.events import EndedRun, EventFilter
from airflow_remote_tasks.core.models import ListedRun, RunOrigin, RunRef, RunStatus, TaskInterface
from airflow_remote_tasks.core.operation import Operation
from airflow_remote_tasks.core.platform import Platform
from airflow_remote_tasks.core.transport import ClientSettings
from airflow_remote_tasks.platforms.flyte import PLATFORM, check, data, events, run_sets, runs, tasks, watch
from airflow_remote_tasks.platforms.flyte.api import LIST_RUNS_LIMIT, ROOT_ACTION, FlyteApi
from airflow_remote_tasks.platforms.flyte.auth import FlyteAuth
from airflow_remote_tasks.platforms.flyte.config import FlyteConfig


class FlytePlatform(Platform):
    """One Flyte connection: its settings, credentials, and the (project, domain) pairs its listings know."""

    declaration = PLATFORM
    status_batch_limit = LIST_RUNS_LIMIT  # one ListRuns filtered to the runs' names

    def __init__(
        self,
        config: FlyteConfig,
        *,
        upload_inputs: bool = False,
        client_settings: ClientSettings | None = None,
    ) -> None:
        self.config = config
        self.upload_inputs = upload_inputs
        self.auth = None if config.auth_mode == "none" else FlyteAuth(config)
        self.client_settings = client_settings or ClientSettings()
        self.api_origin = config.endpoint  # the only origin credentials go to (core.auth)
        self.api = FlyteApi(config, self.auth)
        self.run_sets = run_sets.RunSets(self.api)
        self.updates = watch.FlyteRunUpdates(self)

    def ref_for(self, name: str, action: str = ROOT_ACTION) -> RunRef:
        return self.api.ref_for(name, action)

    def check_connection(self) -> Operation[str]:
        return check.check_connection(self.api)

    def resolve_task(self, task: str | Mapping[str, Any], version: str) -> Operation[TaskInterface]:
        return tasks.resolve_task(self.api, task, version)

    def prepare_inputs(self, interface: TaskInterface, inputs: Mapping[str, Any]) -> dict[str, Any]:
        return tasks.prepare_inputs(interface, inputs)

    def submit(
        self,
        interface: TaskInterface,
        wire_inputs: dict[str, Any],
        *,
        origin: RunOrigin,
        labels: Mapping[str, str],
        env: Mapping[str, str],
    ) -> Operation[RunRef]:
        return runs.submit(
            self.api,
            interface,
            wire_inputs,
            origin=origin,
            labels=labels,
            env=env,
            upload_inputs=self.upload_inputs,
        )

    def find_run(self, run_id: str) -> Operation[RunRef]:
        return runs.find_run(self.api, run_id)

    def status(self, ref: RunRef) -> Operation[RunStatus]:
        return runs.status(self.api, ref)

    def statuses(self, refs: Sequence[RunRef]) -> Operation[dict[str, RunStatus]]:
        return runs.statuses(self.api, refs)

    def check_selector(self, selector: Mapping[str, Any]) -> dict[str, Any]:
        return run_sets.check_selector(selector)

    def list_runs(self, selector: Mapping[str, Any]) -> Operation[list[ListedRun]]:
        return self.run_sets.list_runs(selector)

    @classmethod
    def check_event_filter(cls, event_filter: Mapping[str, Any]) -> EventFilter:
        return events.check_event_filter(event_filter)

    def ended_runs(self, listing: Mapping[str, Any], since: datetime) -> Operation[list[EndedRun]]:
        # An unknown project lists no runs: looked up as set waits' listings are, not watched forever.
        return self.run_sets.in_known_project(listing, lambda: events.ended_runs(self.api, listing, since))

    def run_updates(self) -> watch.FlyteRunUpdates:
        return self.updates

    def abort(self, ref: RunRef, reason: str) -> Operation[bool]:
        return runs.abort(self.api, ref, reason)

    def outputs(self, ref: RunRef) -> Operation[Any]:
        return data.outputs(self.api, ref)

    def logs(self, ref: RunRef, status: RunStatus, max_lines: int) -> Operation[list[str]]:
        return data.logs(self.api, ref, status, max_lines)
