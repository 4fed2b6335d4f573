"""Julep as a platform: tasks (:mod:`.tasks`), executions (:mod:`.executions`) and their transitions
(:mod:`.transitions`), over Julep's REST conventions (:mod:`.rest`)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from airflow_remote_tasks.core.auth import HeaderAuth
from airflow_remote_tasks.core.events import EndedRun, EventFilter
from airflow_remote_tasks.core.models import Progress, RunOrigin, RunRef, RunStatus, TaskInterface
from airflow_remote_tasks.core.operation import Operation
from airflow_remote_tasks.core.platform import Platform
from airflow_remote_tasks.core.transport import ClientSettings
from airflow_remote_tasks.platforms.julep import PLATFORM, events, executions, rest, tasks, transitions
from airflow_remote_tasks.platforms.julep.config import JulepConfig


class JulepPlatform(Platform):
    """Julep's tasks and executions; executions can be cancelled and resumed, and report their transitions.
    Executions are read one at a time (no call reads several by id) and listed per task only (the listing
    asset watchers read: :mod:`.events`)."""

    declaration = PLATFORM

    def __init__(self, config: JulepConfig, *, client_settings: ClientSettings | None = None) -> None:
        self.config = config
        value = config.api_key.get_secret_value()
        if config.auth_header.lower() == "authorization":
            value = f"Bearer {value}"
        self.auth = HeaderAuth(config.auth_header, value)
        self.client_settings = client_settings or ClientSettings()
        self.api_origin = config.base_url  # the only origin credentials go to (core.auth)

    def check_connection(self) -> Operation[str]:
        """The connection's agent, or else the first page of agents.

        :raises UnexpectedAnswerError: when the answer is not Julep's (not the agent asked for, not a page),
            naming the URL that answered. :raises RemoteTaskError: what the call raises.
        """
        config = self.config
        if config.agent_id:
            path = f"agents/{rest.segment(config.agent_id, 'agent_id')}"
            agent = yield from rest.call(config, "GET", path)
            if not isinstance(agent, dict) or str(agent.get("id", "")).lower() != config.agent_id.lower():
                raise rest.not_an_answer(config, "GET", path, agent, "not the agent asked for")
            named = f"agent {agent.get('name', '')!r} ({agent.get('id')})"
            return f"Connected to Julep at {config.base_url}: {named} answers."
        agents = yield from rest.list_items(config, "agents", limit=1)
        seen = "agents are visible" if agents else "no agents exist yet"
        return f"Connected to Julep at {config.base_url}: the API key works and {seen}."

    def resolve_task(self, task: str | Mapping[str, Any], version: str) -> Operation[TaskInterface]:
        return tasks.resolve_task(self.config, task, version)

    def prepare_inputs(self, interface: TaskInterface, inputs: Mapping[str, Any]) -> dict[str, Any]:
        return tasks.execution_input(interface, inputs)

    def submit(
        self,
        interface: TaskInterface,
        wire_inputs: dict[str, Any],
        *,
        origin: RunOrigin,
        labels: Mapping[str, str],
        env: Mapping[str, str],
    ) -> Operation[RunRef]:
        return (
            yield from executions.create(self.config, interface, wire_inputs, origin=origin, labels=labels)
        )

    def find_run(self, run_id: str) -> Operation[RunRef]:
        body = yield from executions.execution(self.config, run_id)
        return executions.ref_of(self.config, body)

    def status(self, ref: RunRef) -> Operation[RunStatus]:
        body = yield from executions.execution(self.config, ref.run_id)
        return executions.status_of(body)

    def outputs(self, ref: RunRef) -> Operation[Any]:
        body = yield from executions.execution(self.config, ref.run_id)
        return body.get("output")

    def progress(self, ref: RunRef, seen: int) -> Operation[Progress]:
        return transitions.progress(self.config, ref, seen)

    def logs(self, ref: RunRef, status: RunStatus, max_lines: int) -> Operation[list[str]]:
        """Julep has no log stream; its last transitions say what the execution did before it ended."""
        return transitions.last_transitions(self.config, ref, max_lines)

    def abort(self, ref: RunRef, reason: str) -> Operation[bool]:
        return executions.cancel(self.config, ref, reason)

    def resume(self, ref: RunRef, inputs: Mapping[str, Any]) -> Operation[None]:
        return executions.resume(self.config, ref, inputs)

    @classmethod
    def check_event_filter(cls, event_filter: Mapping[str, Any]) -> EventFilter:
        return events.check_event_filter(event_filter)

    def ended_runs(self, listing: Mapping[str, Any], since: datetime) -> Operation[list[EndedRun]]:
        return events.ended_runs(self.config, listing, since)
