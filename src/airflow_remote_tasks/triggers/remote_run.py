"""The one trigger: waits on any platform's run in the triggerer, on a shared async client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timezone
from functools import partial
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_remote_tasks.core.batching import jittered_sleep
from airflow_remote_tasks.core.errors import (
    ConfigurationError,
    PermanentError,
    RemoteTaskError,
    clip,
    is_permanent,
)
from airflow_remote_tasks.core.executors import adrive
from airflow_remote_tasks.core.loops import SingleFlight
from airflow_remote_tasks.core.models import RunRef
from airflow_remote_tasks.core.phases import TERMINAL_PHASES, parse_phases
from airflow_remote_tasks.core.platform import Platform
from airflow_remote_tasks.core.run_outcome import OUTCOME_OUTPUT_BYTES_CAP, run_outcome
from airflow_remote_tasks.core.run_wait import wait_for_run
from airflow_remote_tasks.core.steps import astep_runner
from airflow_remote_tasks.hooks.base import RemoteTaskHook
from airflow_remote_tasks.hooks.connection_reads import RECENT_PLATFORMS, aget_connection
from airflow_remote_tasks.registry import declaration_of_connection, hook_class, hook_for_platform

# Airflow gives on_kill 30 s by default ([triggerer] on_kill_timeout): reading the task's state and the abort
# share 25 s of it. The state read goes through the triggerer's supervisor, which answers its triggers one at
# a time: a triggerer that lost hundreds of triggers asks hundreds of times at once.
STATE_READ_BUDGET = 10.0
ON_KILL_BUDGET = 15.0


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


async def ahook_for(platform_name: str | None, conn_id: str) -> RemoteTaskHook:
    """The hook of ``platform_name`` on ``conn_id``; without a name (a sensor's wait started in the triggerer,
    whose arguments were fixed when the DAG was parsed, before any connection was read), the hook of the
    connection's type. The connection is read once per connection for every trigger on the loop that asks
    within ``CONNECTION_TTL`` seconds, as the hooks read it.

    :raises ConfigurationError: an unknown platform name; a connection that is not defined, or of a type
        this provider does not handle (naming the types it does), or whose fields the platform refuses.
    """
    if platform_name is None:

        async def read() -> Platform:
            conn = await aget_connection(conn_id)
            declaration = declaration_of_connection(conn_id, conn.conn_type)
            hook = hook_class(declaration)(conn_id)
            hook.use_connection(conn)
            return hook.platform

        # Keyed apart from the hooks' own reads ((hook class, connection id)): the class is what is asked.
        found = await RECENT_PLATFORMS.get(("by connection type", conn_id), read)
        platform_name = found.declaration.name
    return hook_for_platform(platform_name, conn_id)


class RemoteRunTrigger(BaseTrigger):
    """Polls a remote run until it reaches a target phase, its deadline passes, or a fatal error.

    Every argument is plain JSON: the connection id and the run reference, never a credential.
    The run is either ``ref``, found already (by the operator that started it, or a sensor in the worker),
    or ``run_id``, found here first (a sensor started in the triggerer), on ``platform`` or, without it, the
    platform of the connection's type. ``deadline`` is an instant (epoch seconds); ``deadline_from_task``
    makes it the task instance's trigger timeout instead, which Airflow's scheduler set when it deferred the
    task and keeps in its database, so a restarted triggerer keeps it too.

    Yields exactly one event, the :class:`~airflow_remote_tasks.core.waiting.WaitOutcome` as a dict,
    or ``{"outcome": "error", "message": ...}`` (with ``ref`` once the run was found). With
    ``outcome_output_bytes`` (a sensor's wait), a reached wait's event also carries the sensor's XCom value
    (``result``, see :func:`core.run_outcome.run_outcome`).

    :raises ConfigurationError: neither or both of ``ref`` and ``run_id`` given.
    """

    def __init__(
        self,
        conn_id: str,
        ref: dict[str, Any] | None = None,
        poll_interval: float = 10.0,
        deadline: float | None = None,
        target_phases: list[str] | None = None,
        transient_error_budget: float = 600.0,
        abort_on_kill: bool = True,
        outcome_output_bytes: int = 0,
        run_id: str | None = None,
        platform: str | None = None,
        deadline_from_task: bool = False,
    ) -> None:
        super().__init__()
        if (ref is None) == (run_id is None):
            raise ConfigurationError(
                "RemoteRunTrigger waits on either a ref or a run_id, not on both or none."
            )
        self.conn_id = conn_id
        self.ref = RunRef.model_validate(ref) if ref is not None else None
        # Also the name of the sensor's template field: the triggerer renders it (a static id is left as it is).
        self.run_id = run_id
        self.platform = platform
        self.deadline_from_task = bool(deadline_from_task)
        self.poll_interval = float(poll_interval)
        self.deadline = deadline
        self.target_phases = target_phases
        self.transient_error_budget = float(transient_error_budget)
        self.abort_on_kill = abort_on_kill
        # A deferral from before the cap (1 MiB) may ask for more: the event is kept in Airflow's database.
        self.outcome_output_bytes = min(int(outcome_output_bytes), OUTCOME_OUTPUT_BYTES_CAP)
        self._hook: RemoteTaskHook | None = None

    def serialize(self) -> tuple[str, dict[str, Any]]:
        # A trigger started from a run id is serialized only where it is made, before it found the run.
        found: dict[str, Any] = (
            {"run_id": self.run_id, "platform": self.platform}
            if self.run_id is not None
            else {"ref": self.ref.to_json() if self.ref is not None else None}
        )
        kwargs: dict[str, Any] = {
            "conn_id": self.conn_id,
            **found,
            "poll_interval": self.poll_interval,
            "deadline": self.deadline,
            "target_phases": self.target_phases,
            "transient_error_budget": self.transient_error_budget,
            "abort_on_kill": self.abort_on_kill,
        }
        # Only a sensor's wait reads outcomes: the operator's deferrals keep the kwargs a triggerer running
        # an older provider knows (an unknown keyword fails there with TypeError for every deferral).
        if self.outcome_output_bytes:
            kwargs["outcome_output_bytes"] = self.outcome_output_bytes
        if self.deadline_from_task:
            kwargs["deadline_from_task"] = True
        return f"{type(self).__module__}.{type(self).__qualname__}", kwargs

    @property
    def hook(self) -> RemoteTaskHook:
        """The hook of the run's platform (for ``on_kill``, once the run is known)."""
        if self._hook is None:
            assert self.ref is not None  # on_kill of a trigger that found no run returns before asking
            self._hook = hook_for_platform(self.ref.platform, self.conn_id)
        return self._hook

    async def ahook(self) -> RemoteTaskHook:
        """The hook, found without blocking the loop. Raises as :func:`ahook_for`."""
        if self._hook is None:
            self._hook = await ahook_for(self.ref.platform if self.ref else self.platform, self.conn_id)
        return self._hook

    async def run(self) -> AsyncIterator[TriggerEvent]:
        targets = parse_phases(self.target_phases) if self.target_phases else TERMINAL_PHASES
        try:
            hook = await self.ahook()
            platform = await hook.aplatform()
            if self.ref is None:
                assert self.run_id is not None  # one of the two, checked when made
                self.ref = await hook.afind_run(self.run_id)
            runner = astep_runner(
                hook.arun,
                jittered_sleep,
                # Gathering reads for a tenth of the interval adds that much to the wait at most.
                partial(hook.aread_status, gather_for=min(self.poll_interval / 10, 1.0)),
                pause=partial(hook.apause, sleep=jittered_sleep),
            )
            outcome = await adrive(
                wait_for_run(
                    platform,
                    self.ref,
                    poll_interval=self.poll_interval,
                    targets=targets,
                    deadline=task_deadline(self) if self.deadline_from_task else self.deadline,
                    transient_error_budget=self.transient_error_budget,
                    logger=self.log,
                ),
                runner,
            )
            if self.outcome_output_bytes and outcome.status is not None:
                outcome.result = await adrive(
                    run_outcome(platform, self.ref, outcome.status, self.outcome_output_bytes), runner
                )
        except RemoteTaskError as error:
            yield TriggerEvent(error_event(error, self.ref))
            return
        yield TriggerEvent(outcome.to_event())

    async def on_kill(self) -> None:
        """Stop the remote run, but only when a person ended the deferred task (marked it failed or success,
        or cleared it): while the task instance is still deferred, the run is left alone.

        Airflow 3.3 also calls ``on_kill`` on a triggerer that comes back after missing its heartbeats, for
        every trigger another triggerer took over meanwhile (apache/airflow#73454); aborting then would kill
        runs the new owner is still waiting on. When the state cannot be read, the run is left alone too, and
        the log names it so a person can stop it. Raises nothing: errors are logged.
        """
        if not self.abort_on_kill or self.ref is None:
            return
        ended, why = await task_instance_ended(self.task_instance)
        if not ended:
            log = self.log.info if ended is False else self.log.warning
            log("Cancelled, but %s: leaving run %s alone %s", why, self.ref.run_id, self.ref.url or "")
            return
        platform = await self.hook.aplatform()
        reason = f"Aborted by Airflow: the deferred task was {why}."
        stopped = await asyncio.wait_for(self.hook.arun(platform.abort(self.ref, reason)), ON_KILL_BUDGET)
        if stopped:
            self.log.info("Aborted run %s (%s): the task was %s", self.ref.run_id, self.ref.url, why)
        else:
            self.log.warning(
                "Run %s cannot be stopped on %s; it goes on.", self.ref.run_id, self.ref.platform
            )


def task_deadline(trigger: BaseTrigger) -> float | None:
    """The trigger timeout of ``trigger``'s task instance (epoch seconds), or None when it has none.

    Airflow's scheduler sets it when it defers a task that starts in the triggerer (the task's start plus
    the smaller of ``StartTriggerArgs.timeout`` and ``execution_timeout``) and keeps it in its database;
    the triggerer hands it to every trigger it runs as ``timeout_after``, a restarted one included.
    """
    until = getattr(trigger, "timeout_after", None)
    if until is None:
        return None
    return float((until if until.tzinfo else until.replace(tzinfo=timezone.utc)).timestamp())


async def task_instance_ended(ti: Any) -> tuple[bool | None, str]:
    """Whether a person ended the deferred task instance ``ti``, asked of Airflow through the triggerer's
    supervisor, and what the answer says in words (``"marked failed"``, ``"cleared"``...). Any state but
    ``deferred`` means ended; ``None`` means the state could not be read. Raises nothing."""
    if ti is None:
        return None, "no task instance is known to ask Airflow about"
    from airflow.sdk.execution_time import task_runner

    comms = getattr(task_runner, "SUPERVISOR_COMMS", None)
    if comms is None:
        return None, "Airflow's supervisor cannot be asked for the task's state here"
    try:
        states = await asyncio.wait_for(
            _task_states(comms, ti.dag_id, ti.run_id, ti.task_id), STATE_READ_BUDGET
        )
    except Exception as error:  # any failure to ask means "not known to have ended"
        detail = f": {clip(str(error), 200)}" if str(error) else ""
        return None, f"the task's state could not be read ({type(error).__name__}{detail})"
    map_index = ti.map_index if ti.map_index is not None else -1
    key = ti.task_id if map_index < 0 else f"{ti.task_id}_{map_index}"
    if key not in states:
        return True, "deleted with its DAG run"
    state = states[key]
    if state == "deferred":
        # Its trigger moved to another triggerer, or a new try waits (which aborted this one's run if it was
        # started by a clear: RemoteTaskOperator._reattach).
        return False, "the task instance is still deferred"
    return True, STATE_WORDS.get(state, f"set to {state}")


# One question per task and DAG run in flight, per event loop: a person who marks a DAG run of 300 mapped
# deferred tasks failed, or a triggerer that lost 300 triggers, gets 300 on_kill calls at once, and the
# supervisor answers its triggers one at a time. Nothing is kept once answered: a later on_kill asks afresh.
TASK_STATE_READS: SingleFlight[dict[str, Any]] = SingleFlight()


async def _task_states(comms: Any, dag_id: str, run_id: str, task_id: str) -> dict[str, Any]:
    """The states of every map index of one task in one DAG run (``task_id`` or ``task_id_<index>``).

    :raises LookupError: the supervisor answered something else than task states.
    """
    from airflow.sdk.execution_time.comms import GetTaskStates, TaskStatesResult

    async def read() -> dict[str, Any]:
        answer = await comms.asend(GetTaskStates(dag_id=dag_id, run_ids=[run_id], task_ids=[task_id]))
        if not isinstance(answer, TaskStatesResult):
            raise LookupError(f"the supervisor answered {type(answer).__name__}")
        return dict(answer.task_states.get(run_id, {}))

    return await TASK_STATE_READS.get((dag_id, run_id, task_id), read)


# What the state of an ended deferred task says a person did.
STATE_WORDS = {
    None: "cleared",
    "scheduled": "cleared",
    "queued": "cleared",
    "running": "cleared",
    "restarting": "cleared",
    "failed": "marked failed",
    "success": "marked success",
    "skipped": "marked skipped",
    "up_for_retry": "marked for retry",
}
