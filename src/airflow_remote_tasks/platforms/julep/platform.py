"""Julep: every operation the provider needs, as request builders and response parsers."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from airflow_remote_tasks.core.auth import HeaderAuth
from airflow_remote_tasks.core.errors import (
    ApiError,
    ConfigurationError,
    InvalidInputsError,
    NotFoundError,
    RemoteTaskError,
    is_transient,
)
from airflow_remote_tasks.core.models import (
    InputSpec,
    ListedRun,
    Progress,
    RunOrigin,
    RunRef,
    RunStatus,
    TaskInterface,
)
from airflow_remote_tasks.core.operation import Operation, Sink, answer, starting_run
from airflow_remote_tasks.core.phases import Phase, phase_of_word
from airflow_remote_tasks.core.transport import ClientSettings
from airflow_remote_tasks.platforms.julep import PLATFORM, rest
from airflow_remote_tasks.platforms.julep.config import JulepConfig
from airflow_remote_tasks.platforms.julep.definitions import definition_problems
from airflow_remote_tasks.platforms.julep.schema import check_inputs, inputs_of_schema

PHASES: dict[str, Phase] = {
    "queued": Phase.QUEUED,
    "starting": Phase.QUEUED,
    "running": Phase.RUNNING,
    "awaiting_input": Phase.PAUSED,
    "succeeded": Phase.SUCCEEDED,
    "failed": Phase.FAILED,
    "cancelled": Phase.ABORTED,
}
ENDED = frozenset({"succeeded", "failed", "cancelled"})
# Task ids chosen for definitions: the same agent and task name always give the same id.
TASK_NAMESPACE = uuid.UUID("6f1d9a52-7c1e-4f5b-9a3e-2b8c0d4e7a61")
RUN_KEY = "airflow_run_key"
DEFINITION_HASH = "airflow_definition_sha256"
SUBMIT_ATTEMPTS = 3
SUMMARY_CHARS = 160


def summarize(value: Any, limit: int = SUMMARY_CHARS) -> str:
    text = json.dumps(value, default=str, separators=(",", ":"), sort_keys=True)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def run_key(origin: RunOrigin) -> str:
    return "af-" + hashlib.sha256(origin.key.encode()).hexdigest()[:20]


def definition_task_id(agent_id: str, name: str) -> str:
    return str(uuid.uuid5(TASK_NAMESPACE, f"{agent_id}/{name}"))


def definition_hash(definition: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(definition, sort_keys=True, default=str).encode()).hexdigest()


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


class JulepPlatform:
    name = "julep"
    status_batch_limit = 0  # no call reads several executions by id

    def __init__(self, config: JulepConfig, *, client_settings: ClientSettings | None = None) -> None:
        self.config = config
        value = config.api_key.get_secret_value()
        if config.auth_header.lower() == "authorization":
            value = f"Bearer {value}"
        self.auth = HeaderAuth(config.auth_header, value)
        self.client_settings = client_settings or ClientSettings()
        self.api_origin = config.base_url  # the only origin credentials go to (core.auth)

    def _call(self, method: str, path: str, **kwargs: Any) -> Operation[Any]:
        return rest.call(self.config, method, path, **kwargs)

    def ref_for(self, execution: Mapping[str, Any]) -> RunRef:
        return RunRef(
            platform=self.name,
            run_id=str(execution["id"]),
            scope={"task_id": str(execution.get("task_id", ""))},
            url=self.config.execution_url(str(execution["id"]), str(execution.get("task_id", ""))),
        )

    # -- connection ----------------------------------------------------------------------------

    def poll_delay(self) -> float:
        return 0.0  # no rate-limit headers to go by: 429 answers are waited out by the executors

    def check_connection(self) -> Operation[str]:
        """The connection's agent, or else the first page of agents.

        :raises UnexpectedAnswerError: when the answer is not Julep's (not the agent asked for, not a page),
            naming the URL that answered. :raises RemoteTaskError: what the call raises.
        """
        base = self.config.base_url
        if self.config.agent_id:
            path = f"agents/{rest.segment(self.config.agent_id, 'agent_id')}"
            agent = yield from self._call("GET", path)
            if (
                not isinstance(agent, dict)
                or str(agent.get("id", "")).lower() != self.config.agent_id.lower()
            ):
                raise rest.not_an_answer(self.config, "GET", path, agent, "not the agent asked for")
            return (
                f"Connected to Julep at {base}: agent {agent.get('name', '')!r} ({agent.get('id')}) answers."
            )
        agents = yield from rest.list_items(self.config, "agents", limit=1)
        seen = "agents are visible" if agents else "no agents exist yet"
        return f"Connected to Julep at {base}: the API key works and {seen}."

    # -- tasks ---------------------------------------------------------------------------------

    def resolve_task(self, task: str | Mapping[str, Any], version: str) -> Operation[TaskInterface]:
        if version not in ("", "latest"):
            raise ConfigurationError(
                f"Julep tasks have no versions (got version={version!r}); leave version unset. A changed "
                "definition updates the task in place."
            )
        if not isinstance(task, str):
            body = yield from self._deploy(task)
        elif _is_uuid(task):
            try:
                body = yield from self._call("GET", f"tasks/{rest.segment(task, 'task')}")
            except NotFoundError:
                raise NotFoundError(
                    f"No Julep task with id {task!r} at {self.config.base_url}. Check the id (the dashboard "
                    "or `julep tasks list` shows it), or pass a task definition to create it.",
                    status=404,
                    code="not_found",
                ) from None
        else:
            body = yield from self._task_by_name(task)
        return task_interface(body)

    def _task_by_name(self, name: str) -> Operation[dict[str, Any]]:
        agent = self.config.agent_id
        if not agent:
            raise ConfigurationError(
                f"Julep task {name!r} is not a task id. Pass the task's UUID, a task definition, or set the "
                "connection's Agent ID to look tasks up by name."
            )
        task = yield from rest.find_item(
            self.config,
            f"agents/{rest.segment(agent, 'agent_id')}/tasks",
            lambda item: name in (item.get("name"), item.get("canonical_name")),
        )
        if task is not None:
            return task
        raise NotFoundError(
            f"Agent {agent} has no Julep task named {name!r}. Check the name, or pass a task definition.",
            status=404,
            code="not_found",
        )

    def _deploy(self, definition: Mapping[str, Any]) -> Operation[dict[str, Any]]:
        """Create the task, or update it when its definition changed; an unchanged one is left alone."""
        spec = dict(definition)
        agent = str(spec.pop("agent_id", "") or self.config.agent_id)
        problems = definition_problems(spec)
        if not agent:
            problems.append("no agent: set 'agent_id' in the definition or the connection's Agent ID")
        if problems:
            raise ConfigurationError(
                "The Julep task definition cannot be used; nothing was sent:\n"
                + "\n".join(f"- {p}" for p in problems)
            )
        digest = definition_hash(spec)
        task_id = definition_task_id(agent, str(spec["name"]))
        try:
            current = yield from self._call("GET", f"tasks/{rest.segment(task_id, 'task_id')}")
        except NotFoundError:
            current = None
        if current is not None and (current.get("metadata") or {}).get(DEFINITION_HASH) == digest:
            return dict(current)
        spec["metadata"] = {
            **(spec.get("metadata") or {}),
            "created_by": "airflow",
            DEFINITION_HASH: digest,
        }
        # Create-or-update under a client-chosen id: safe to send twice.
        saved = yield from self._call(
            "POST",
            f"agents/{rest.segment(agent, 'agent_id')}/tasks/{rest.segment(task_id, 'task_id')}",
            body=spec,
        )
        return dict(saved)

    def prepare_inputs(self, interface: TaskInterface, inputs: Mapping[str, Any]) -> dict[str, Any]:
        schema = interface.wire.get("input_schema")
        problems, filled = check_inputs(schema, inputs)
        if problems:
            raise InvalidInputsError(
                f"Inputs for Julep task {interface.task!r} do not match its input_schema; nothing was "
                "submitted.\n"
                + "\n".join(f"- {p}" for p in problems)
                + f"\nExpected inputs:\n{interface.describe_inputs()}"
            )
        return filled

    # -- executions ----------------------------------------------------------------------------

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
            raise ConfigurationError(
                "Julep executions take no environment variables; pass the values as inputs instead."
            )
        task_id = interface.wire["task_id"]
        key = run_key(origin)
        metadata = {
            **labels,
            "airflow_dag_id": origin.dag_id,
            "airflow_run_id": origin.run_id,
            "airflow_task_id": origin.task_id,
            "airflow_map_index": origin.map_index,
            RUN_KEY: key,
        }
        # Julep has no idempotency key: every create is preceded by a lookup of the key in metadata.
        for attempt in range(1, SUBMIT_ATTEMPTS + 1):
            found = yield from self._find_by_key(task_id, key)
            if found is not None:
                return self.ref_for(found)
            try:
                created = yield from starting_run(
                    self._call(
                        "POST",
                        f"tasks/{rest.segment(task_id, 'task_id')}/executions",
                        body={"input": wire_inputs, "metadata": metadata},
                        idempotent=False,
                    )
                )
            except RemoteTaskError as error:
                # After a transient error the execution may or may not exist: look it up, then try again.
                if attempt == SUBMIT_ATTEMPTS or not is_transient(error):
                    raise _explain_create_error(error, interface) from error
                continue
            return self.ref_for(created)
        raise AssertionError("unreachable")

    def _find_by_key(self, task_id: str, key: str) -> Operation[dict[str, Any] | None]:
        # A failed or cancelled one is not reused: that try's run is over, start another.
        return (
            yield from rest.find_item(
                self.config,
                f"tasks/{rest.segment(task_id, 'task_id')}/executions",
                lambda item: (
                    (item.get("metadata") or {}).get(RUN_KEY) == key
                    and item.get("status") not in ("failed", "cancelled")
                ),
                max_pages=5,
            )
        )

    def find_run(self, run_id: str) -> Operation[RunRef]:
        body = yield from self._execution(run_id)
        return self.ref_for(body)

    def _execution(self, execution_id: str) -> Operation[dict[str, Any]]:
        execution_id = PLATFORM.check_run_id(execution_id)
        try:
            body = yield from self._call("GET", _execution_path(execution_id))
        except NotFoundError:
            raise NotFoundError(
                f"No Julep execution with id {execution_id!r} at {self.config.base_url}.",
                status=404,
                code="not_found",
            ) from None
        return dict(body)

    def status(self, ref: RunRef) -> Operation[RunStatus]:
        body = yield from self._execution(ref.run_id)
        return parse_execution_status(body)

    def statuses(self, refs: Sequence[RunRef]) -> Operation[dict[str, RunStatus]]:
        return answer({})  # Julep reads executions one at a time (status_batch_limit is 0)

    def outputs(self, ref: RunRef) -> Operation[Any]:
        body = yield from self._execution(ref.run_id)
        return body.get("output")

    def check_selector(self, selector: Mapping[str, Any]) -> dict[str, Any]:
        raise ConfigurationError(
            "Julep lists executions per task, not across tasks by a filter: wait on one execution with RemoteRunSensor instead."
        )

    def list_runs(self, selector: Mapping[str, Any]) -> Operation[list[ListedRun]]:
        raise ConfigurationError(
            "Julep lists executions per task, not across tasks by a filter: wait on one execution with RemoteRunSensor instead."
        )

    def download(self, ref: RunRef, stream: str, sink: Sink) -> Operation[None]:
        raise ConfigurationError("Julep runs return values, not streams: there is nothing to download.")

    def progress(self, ref: RunRef, seen: int) -> Operation[Progress]:
        items = yield from rest.list_items(
            self.config, _execution_path(ref.run_id, "/transitions"), offset=seen, newest_first=False
        )
        return Progress(lines=[describe_transition(t) for t in items], seen=seen + len(items))

    def logs(self, ref: RunRef, status: RunStatus, max_lines: int) -> Operation[list[str]]:
        """Julep has no log stream; its last transitions say what the execution did before it ended."""
        items = yield from rest.list_items(
            self.config,
            _execution_path(ref.run_id, "/transitions"),
            limit=max(1, min(max_lines, rest.PAGE_SIZE)),
        )
        return [describe_transition(t) for t in reversed(items)]

    def abort(self, ref: RunRef, reason: str) -> Operation[bool]:
        try:
            body = yield from self._execution(ref.run_id)
        except NotFoundError:
            return True
        if body.get("status") in ENDED:
            return True
        # The status turns "cancelled" later, when the workflow records it; status polls show it.
        yield from self._call(
            "PUT", _execution_path(ref.run_id), body={"status": "cancelled", "reason": reason}
        )
        return True

    def resume(self, ref: RunRef, inputs: Mapping[str, Any]) -> Operation[None]:
        """Resume the execution while it waits for input; safe to repeat. Julep has no idempotency key, so the
        execution's state is read before every send: one that no longer waits was resumed (by a send whose
        answer was lost, or by someone else) and is not resumed again. A wait step takes one input, so a
        resend that crosses a slow status change cannot give it a second one."""
        for attempt in range(1, SUBMIT_ATTEMPTS + 1):
            body = yield from self._execution(ref.run_id)
            if body.get("status") != "awaiting_input":
                return None
            try:
                # "status" must be explicit: the server's default for this body is "running" for any shape.
                yield from starting_run(
                    self._call(
                        "PUT",
                        _execution_path(ref.run_id),
                        body={"status": "running", "input": dict(inputs)},
                        idempotent=False,
                    )
                )
            except RemoteTaskError as error:
                if attempt == SUBMIT_ATTEMPTS or not is_transient(error):
                    raise
                continue
            return None
        raise AssertionError("unreachable")


def _execution_path(execution_id: str, tail: str = "") -> str:
    return f"executions/{rest.segment(execution_id, 'run_id')}{tail}"


def _explain_create_error(error: RemoteTaskError, interface: TaskInterface) -> RemoteTaskError:
    if isinstance(error, ApiError) and error.status == 400:
        return InvalidInputsError(
            f"Julep refused the execution of task {interface.task!r}: {error}. Nothing was started.\n"
            f"Expected inputs:\n{interface.describe_inputs()}"
        )
    return error


def task_interface(body: Mapping[str, Any]) -> TaskInterface:
    schema = body.get("input_schema")
    name = str(body.get("name") or body.get("id"))
    inputs: list[InputSpec] = inputs_of_schema(schema)
    return TaskInterface(
        platform="julep",
        task=name,
        inputs=inputs,
        wire={"task_id": str(body["id"]), "input_schema": schema},
    )


def parse_execution_status(body: Mapping[str, Any]) -> RunStatus:
    raw = str(body.get("status") or "queued")
    phase = phase_of_word(raw, PHASES, "Julep status")
    message = str(body.get("error") or "")
    if phase is Phase.PAUSED:
        message = f"waiting for input: {summarize(body.get('output'))}"
    return RunStatus(
        phase=phase,
        raw_phase=raw,
        message=message,
        steps=int(body.get("transition_count") or 0),
    )


def describe_transition(transition: Mapping[str, Any]) -> str:
    current = transition.get("current") or {}
    where = f"step {current.get('step', '?')}"
    if current.get("workflow") not in (None, "", "main"):
        where += f" of {current['workflow']}"
    label = transition.get("step_label")
    if label:
        where += f" ({label})"
    kind = transition.get("type", "?")
    return f"{where} {kind}: {summarize(transition.get('output'))}"
