"""In-memory Flyte state: projects, tasks and runs whose phase follows the clock."""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from types import MappingProxyType
from typing import Any

from airflow_remote_tasks.emulators.flyte.literals import LiteralRefused, read, write
from airflow_remote_tasks.emulators.flyte.tasks import SeedTask, TaskFailure, seed_tasks, task_spec

DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
# The projects the emulator holds, and their domains.
PROJECTS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {"flytesnacks": ("development", "staging", "production")}
)


class Rejected(Exception):
    """A request the real control plane would refuse, with its Connect code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _stamp(moment: float) -> str:
    return datetime.fromtimestamp(moment, timezone.utc).isoformat().replace("+00:00", "Z")


@dataclass
class EmulatedRun:
    org: str
    project: str
    domain: str
    name: str
    task: SeedTask
    input_literals: list[dict[str, Any]]
    inputs: dict[str, Any]  # the values read from input_literals
    created: float  # wall clock
    queue_seconds: float
    run_seconds: float
    output_literals: list[dict[str, Any]] | None
    failure: TaskFailure | None
    labels: dict[str, str] = field(default_factory=dict)
    aborted_at: float | None = None
    abort_reason: str = ""
    log_lines: list[str] = field(default_factory=list)
    # A phase reported in place of the real one (an enum number or name): how a newer server's phase, which
    # the provider's table cannot know, reaches the client. Set through ``POST /_emulator/report-phase``.
    reported_phase: int | str | None = None

    @property
    def run_id(self) -> dict[str, str]:
        return {"org": self.org, "project": self.project, "domain": self.domain, "name": self.name}

    def phase(self, now: float | None = None) -> str:
        now = time.time() if now is None else now
        if self.aborted_at is not None:
            return "ACTION_PHASE_ABORTED"
        if now < self.created + self.queue_seconds:
            return "ACTION_PHASE_QUEUED"
        if now < self.ended_at:
            return "ACTION_PHASE_RUNNING"
        return "ACTION_PHASE_FAILED" if self.failure else "ACTION_PHASE_SUCCEEDED"

    @property
    def ended_at(self) -> float:
        if self.aborted_at is not None:
            return self.aborted_at
        return self.created + self.queue_seconds + self.run_seconds

    def is_terminal(self, now: float | None = None) -> bool:
        return self.phase(now) not in ("ACTION_PHASE_QUEUED", "ACTION_PHASE_RUNNING")

    def action_details(self) -> dict[str, Any]:
        now = time.time()
        phase = self.phase(now)
        terminal = self.is_terminal(now)
        reported = phase if self.reported_phase is None else self.reported_phase
        status: dict[str, Any] = {"phase": reported, "startTime": _stamp(self.created), "attempts": 1}
        attempt: dict[str, Any] = {
            "phase": reported,
            "attempt": 1,
            "startTime": _stamp(self.created),
            "logsAvailable": True,
            "cluster": "emulator",
        }
        if terminal:
            status["endTime"] = attempt["endTime"] = _stamp(self.ended_at)
            status["durationMs"] = str(int((self.ended_at - self.created) * 1000))
        details: dict[str, Any] = {
            "id": {"run": self.run_id, "name": "a0"},
            "metadata": {
                "task": {
                    "id": self.task_id,
                    "taskType": "python",
                    "shortName": self.task.name.split(".")[-1],
                },
                "actionType": "ACTION_TYPE_TASK",
                "environmentName": self.task.name.split(".")[0],
            },
            "status": status,
            "attempts": [attempt],
            "task": task_spec(self.task, self.project, self.domain),
        }
        if phase == "ACTION_PHASE_FAILED" and self.failure:
            error = {"message": str(self.failure), "kind": "KIND_USER", "code": self.failure.code}
            details["errorInfo"] = attempt["errorInfo"] = error
        if phase == "ACTION_PHASE_ABORTED":
            details["abortInfo"] = {"reason": self.abort_reason}
        return details

    @property
    def task_id(self) -> dict[str, str]:
        return {
            "org": self.org,
            "project": self.project,
            "domain": self.domain,
            "name": self.task.name,
            "version": self.task.version,
        }

    def visible_logs(self) -> list[str]:
        """Lines 'printed' so far: the start line once running, the rest at the end."""
        now = time.time()
        if now < self.created + self.queue_seconds:
            return []
        if not self.is_terminal(now):
            return self.log_lines[:1]
        return self.log_lines


class FlyteState:
    def __init__(self, queue_seconds: float = 0.3, run_seconds: float = 1.0) -> None:
        self.queue_seconds = queue_seconds
        self.run_seconds = run_seconds
        self.lock = threading.Lock()
        self.tasks: list[SeedTask] = seed_tasks()
        self.runs: dict[tuple[str, str, str], EmulatedRun] = {}
        self.created: list[EmulatedRun] = []  # the runs in the order they were made, for WatchRuns streams
        self.uploads: dict[str, list[dict[str, Any]]] = {}
        # AbortRun requests by run name, those for finished runs too (which change nothing).
        self.abort_requests: Counter[str] = Counter()
        self.started = time.time()
        # GUESS (brief §11): Union leaves the root action's error out of GetRunDetails.
        self.omit_run_error_info = False

    # -- lookups -------------------------------------------------------------------------------

    def check_project(self, project: str, domain: str) -> None:
        if domain not in PROJECTS.get(project, ()):
            raise Rejected("not_found", f"project {project}/{domain} not found")

    def find_task(self, name: str, version: str) -> SeedTask:
        for task in self.tasks:
            if task.name == name and task.version == version:
                return task
        raise Rejected("not_found", f"task {name}:{version} not found")

    def task_created_at(self, task: SeedTask) -> str:
        return _stamp(self.started - 3600 + self.tasks.index(task))

    def run(self, project: str, domain: str, name: str) -> EmulatedRun:
        with self.lock:
            run = self.runs.get((project, domain, name))
        if run is None:
            raise Rejected("not_found", f"run {name} not found")
        return run

    # -- runs ----------------------------------------------------------------------------------

    def create_run(
        self,
        *,
        org: str,
        project: str,
        domain: str,
        name: str,
        task: SeedTask,
        input_literals: list[dict[str, Any]],
        labels: dict[str, str],
    ) -> EmulatedRun:
        self.check_project(project, domain)
        if len(name) > 30 or not DNS_1035.match(name):
            raise Rejected(
                "invalid_argument", f"run name {name!r} must be a DNS-1035 label of at most 30 characters"
            )
        values, filled = self._read_inputs(task, input_literals)
        failure: TaskFailure | None = None
        outputs: list[dict[str, Any]] | None = None
        try:
            produced = task.compute(values)
            outputs = [{"name": k, "value": write(produced[k], task.outputs[k])} for k in task.outputs]
        except TaskFailure as error:
            failure = error
        duration = task.duration(values)
        run = EmulatedRun(
            org=org,
            project=project,
            domain=domain,
            name=name,
            task=task,
            input_literals=filled,
            inputs=values,
            created=time.time(),
            queue_seconds=self.queue_seconds,
            run_seconds=self.run_seconds if duration is None else duration,
            output_literals=outputs,
            failure=failure,
            labels=labels,
        )
        run.log_lines = [f"[{task.name}] started with inputs {values!r}"]
        run.log_lines += (
            ["Traceback (most recent call last):", f'  File "{task.name}", line 1', str(failure)]
            if failure
            else [f"[{task.name}] finished"]
        )
        with self.lock:
            key = (project, domain, name)
            if key in self.runs:
                raise Rejected("already_exists", f"run {name} already exists")
            self.runs[key] = run
            self.created.append(run)
        return run

    def _read_inputs(
        self, task: SeedTask, given: list[dict[str, Any]]
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The inputs' values and their literals, defaults filled in as OSS does for inline inputs.

        :raises Rejected: ``invalid_argument`` for an unknown or missing input, or a literal not of its type."""
        by_name = {item["name"]: item.get("value", {}) for item in given}
        unknown = sorted(set(by_name) - set(task.inputs))
        if unknown:
            raise Rejected("invalid_argument", f"unknown inputs {unknown} for task {task.name}")
        values: dict[str, Any] = {}
        filled = []
        for name, wire_type in task.inputs.items():
            if name in by_name:
                literal = by_name[name]
            elif name in task.defaults:
                literal = write(task.defaults[name], wire_type)
            else:
                raise Rejected("invalid_argument", f"missing input {name!r} for task {task.name}")
            try:
                values[name] = read(literal, wire_type, name)
            except LiteralRefused as refused:
                raise Rejected("invalid_argument", f"{refused} (task {task.name})") from None
            filled.append({"name": name, "value": literal})
        return values, filled

    def abort(self, project: str, domain: str, name: str, reason: str) -> None:
        run = self.run(project, domain, name)
        with self.lock:
            self.abort_requests[name] += 1
            if not run.is_terminal():
                run.aborted_at = time.time()
                run.abort_reason = reason or "aborted"

    def upload(self, inputs: list[dict[str, Any]]) -> dict[str, str]:
        digest = hashlib.sha256(repr(inputs).encode()).hexdigest()
        uri = f"s3://emulator/uploads/{digest[:32]}/inputs.pb"
        with self.lock:
            self.uploads[uri] = inputs
        return {"uri": uri, "inputsHash": digest}

    def summary(self) -> list[dict[str, Any]]:
        with self.lock:
            runs = list(self.runs.values())
        return [
            {
                "name": r.name,
                "project": r.project,
                "domain": r.domain,
                "task": r.task.name,
                "version": r.task.version,
                "phase": r.phase(),
                "labels": r.labels,
                "inputs": r.inputs,
            }
            for r in runs
        ]
