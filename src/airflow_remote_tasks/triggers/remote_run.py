"""The one trigger: waits on any platform's run in the triggerer, on a shared async client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from functools import partial
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_remote_tasks.core.batching import jittered_sleep
from airflow_remote_tasks.core.errors import PermanentError, RemoteTaskError, is_permanent
from airflow_remote_tasks.core.executors import adrive
from airflow_remote_tasks.core.models import RunRef
from airflow_remote_tasks.core.phases import TERMINAL_PHASES, parse_phases
from airflow_remote_tasks.core.waiting import astep_runner, wait_for_run
from airflow_remote_tasks.hooks.base import RemoteTaskHook, hook_for_platform

# Airflow gives on_kill 30 s by default ([triggerer] on_kill_timeout); finish well inside it.
ON_KILL_BUDGET = 20.0


def error_event(error: RemoteTaskError, ref: RunRef | None = None) -> dict[str, Any]:
    """The event of a wait that failed; ``permanent`` says whether Airflow's retries could help."""
    event = {"outcome": "error", "message": str(error), "permanent": is_permanent(error)}
    return event if ref is None else {**event, "ref": ref.to_json()}


def raise_error_event(event: dict[str, Any], prefix: str) -> None:
    """In ``execute_complete``: raise what the trigger reported, as permanent as it was."""
    if event.get("outcome") != "error":
        return
    message = f"{prefix}: {event.get('message')}"
    raise PermanentError(message) if event.get("permanent") else RemoteTaskError(message)


class RemoteRunTrigger(BaseTrigger):
    """Polls a remote run until it reaches a target phase, its deadline passes, or a fatal error.

    Every argument is plain JSON: the connection id and the run reference, never a credential.
    Yields exactly one event, the :class:`~airflow_remote_tasks.core.waiting.WaitOutcome` as a dict,
    or ``{"outcome": "error", "message": ...}``.
    """

    def __init__(
        self,
        conn_id: str,
        ref: dict[str, Any],
        poll_interval: float = 10.0,
        deadline: float | None = None,
        target_phases: list[str] | None = None,
        transient_error_budget: float = 600.0,
        abort_on_kill: bool = True,
    ) -> None:
        super().__init__()
        self.conn_id = conn_id
        self.ref = RunRef.model_validate(ref)
        self.poll_interval = float(poll_interval)
        self.deadline = deadline
        self.target_phases = target_phases
        self.transient_error_budget = float(transient_error_budget)
        self.abort_on_kill = abort_on_kill
        self._hook: RemoteTaskHook | None = None

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "conn_id": self.conn_id,
                "ref": self.ref.to_json(),
                "poll_interval": self.poll_interval,
                "deadline": self.deadline,
                "target_phases": self.target_phases,
                "transient_error_budget": self.transient_error_budget,
                "abort_on_kill": self.abort_on_kill,
            },
        )

    @property
    def hook(self) -> RemoteTaskHook:
        if self._hook is None:
            self._hook = hook_for_platform(self.ref.platform, self.conn_id)
        return self._hook

    async def run(self) -> AsyncIterator[TriggerEvent]:
        targets = parse_phases(self.target_phases) if self.target_phases else TERMINAL_PHASES
        try:
            platform = await self.hook.aplatform()
            outcome = await adrive(
                wait_for_run(
                    platform,
                    self.ref,
                    poll_interval=self.poll_interval,
                    targets=targets,
                    deadline=self.deadline,
                    transient_error_budget=self.transient_error_budget,
                    logger=self.log,
                ),
                astep_runner(
                    self.hook.arun,
                    jittered_sleep,
                    # Gathering reads for a tenth of the interval adds that much to the wait at most.
                    partial(self.hook.aread_status, gather_for=min(self.poll_interval / 10, 1.0)),
                ),
            )
        except RemoteTaskError as error:
            yield TriggerEvent(error_event(error, self.ref))
            return
        yield TriggerEvent(outcome.to_event())

    async def on_kill(self) -> None:
        """The deferred task was marked failed or cleared by a person: stop the remote run too."""
        if not self.abort_on_kill:
            return
        platform = await self.hook.aplatform()
        reason = "Aborted by Airflow: the deferred task was marked failed or cleared."
        stopped = await asyncio.wait_for(self.hook.arun(platform.abort(self.ref, reason)), ON_KILL_BUDGET)
        if stopped:
            self.log.info("Aborted run %s (%s)", self.ref.run_id, self.ref.url)
        else:
            self.log.warning(
                "Run %s cannot be stopped on %s; it goes on.", self.ref.run_id, self.ref.platform
            )
