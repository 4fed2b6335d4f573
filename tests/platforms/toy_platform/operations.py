"""The toy's wire protocol: ``POST /runs`` (attached by key), ``GET /runs/<id>``; every run says its text loud."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from airflow_remote_tasks.core.errors import ApiError, NotFoundError
from airflow_remote_tasks.core.models import InputSpec, RunOrigin, RunRef, RunStatus, TaskInterface
from airflow_remote_tasks.core.operation import HttpRequest, Operation, path_segment, returns, starting_run
from airflow_remote_tasks.core.phases import Phase
from airflow_remote_tasks.core.platform import Platform
from airflow_remote_tasks.core.transport import ClientSettings
from toy_platform import PLATFORM

PHASES = {"running": Phase.RUNNING, "done": Phase.SUCCEEDED}


class ToyPlatform(Platform):
    declaration = PLATFORM

    def __init__(self, base_url: str, client_settings: ClientSettings) -> None:
        self.api_origin = base_url
        self.auth = None
        self.client_settings = client_settings

    def _call(self, method: str, path: str, body: Any = None) -> Operation[Any]:
        response = yield HttpRequest(
            method, f"{self.api_origin}/{path}", content=None if body is None else json.dumps(body).encode()
        )
        if response.status == 404:
            raise NotFoundError(f"{path} does not exist.", status=404)
        if response.status >= 400:
            raise ApiError(f"{method} {path} got HTTP {response.status}.", status=response.status)
        return response.json()

    def _ref(self, run: Mapping[str, Any]) -> RunRef:
        return RunRef(platform=self.name, run_id=run["id"])

    def check_connection(self) -> Operation[str]:
        runs = yield from self._call("GET", "runs")
        return f"Toy answers, with {len(runs)} runs."

    def resolve_task(self, task: str | Mapping[str, Any], version: str) -> Operation[TaskInterface]:
        return returns(
            TaskInterface(platform=self.name, task=str(task), inputs=[InputSpec(name="text", type="str")])
        )

    def prepare_inputs(self, interface: TaskInterface, inputs: Mapping[str, Any]) -> Any:
        return {"task": interface.task, "text": str(inputs["text"])}

    def submit(
        self,
        interface: TaskInterface,
        job: Any,
        *,
        origin: RunOrigin,
        labels: Mapping[str, str],
        env: Mapping[str, str],
    ) -> Operation[RunRef]:
        # The server attaches a resent create to the run of the same key.
        run = yield from starting_run(self._call("POST", "runs", {**job, "key": origin.key}))
        return self._ref(run)

    def find_run(self, run_id: str) -> Operation[RunRef]:
        return self._ref((yield from self._call("GET", f"runs/{path_segment(run_id)}")))

    def status(self, ref: RunRef) -> Operation[RunStatus]:
        run = yield from self._call("GET", f"runs/{path_segment(ref.run_id)}")
        return RunStatus(phase=PHASES.get(run["state"], Phase.UNKNOWN), raw_phase=run["state"])

    def outputs(self, ref: RunRef) -> Operation[Any]:
        return (yield from self._call("GET", f"runs/{path_segment(ref.run_id)}"))["outputs"]
