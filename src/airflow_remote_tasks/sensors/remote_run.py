"""RemoteRunSensor: wait for a run that something else started."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

from airflow.sdk import BaseSensorOperator, Context
from airflow.sdk.configuration import conf

from airflow_remote_tasks.core import arguments
from airflow_remote_tasks.core.errors import RemoteRunError, RemoteTaskError, is_transient
from airflow_remote_tasks.core.models import RunRef, RunStatus
from airflow_remote_tasks.core.phases import (
    FAILURE_PHASES,
    TERMINAL_PHASES,
    OnPaused,
    Phase,
    check_on_paused,
    parse_phases,
)
from airflow_remote_tasks.core.retry import WAIT_READS
from airflow_remote_tasks.core.waiting import BudgetExceededError
from airflow_remote_tasks.hooks.base import UsesRemoteHook
from airflow_remote_tasks.links.remote_run import RemoteRunLink, publish_run_url, remember_run_url
from airflow_remote_tasks.triggers.remote_run import RemoteRunTrigger, raise_error_event

SUCCESS = frozenset({Phase.SUCCEEDED})
FAILING_KEY = "remote_run_read_failures"


def failing_for_seconds(context: Context, read_at: float, poke_interval: float) -> float:
    """How long a poking sensor has failed to read, this transient error included: kept across pokes in
    ``task_state_store``, since in reschedule mode every poke is a new process. Failures further apart than
    two poke intervals are not consecutive: a read succeeded between them."""
    store = context["task_state_store"]
    seen: dict[str, float] = store.get(FAILING_KEY) or {}  # type: ignore[assignment]
    since = seen.get("since", read_at)
    if read_at - seen.get("last", read_at) > 2 * poke_interval + 60:
        since = read_at
    store.set(FAILING_KEY, {"since": since, "last": time.time()})
    return time.time() - since


class RemoteRunSensor(UsesRemoteHook, BaseSensorOperator):
    """Succeeds when run ``run_id`` reaches one of ``target_phases`` (default: succeeded).

    A run that ends failed, aborted or timed out fails the sensor unless ``fail_on_failure=False`` or that
    phase is itself a target. A run that ends before reaching a target fails the sensor.
    ``on_paused`` says what a run that waits for input (Julep ``awaiting_input``) means: keep ``"wait"``-ing,
    ``"fail"``, or ``"succeed"``.
    """

    template_fields: Sequence[str] = ("run_id",)
    operator_extra_links = (RemoteRunLink(),)

    def __init__(
        self,
        *,
        conn_id: str,
        run_id: str,
        target_phases: Iterable[str] | None = None,
        fail_on_failure: bool = True,
        on_paused: OnPaused = "wait",
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        transient_error_budget: float = 600.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        arguments.seconds("poke_interval", self.poke_interval)  # 0 would poll without pause
        self.transient_error_budget = arguments.seconds(
            "transient_error_budget", transient_error_budget, positive=False
        )
        self.conn_id = conn_id
        self.run_id = run_id
        # By default a run is awaited until it ends; only success counts as reaching the target.
        self.targets = parse_phases(list(target_phases)) if target_phases is not None else SUCCESS
        self.fail_on_failure = fail_on_failure
        self.on_paused = check_on_paused(on_paused)
        if on_paused == "succeed":
            self.targets |= {Phase.PAUSED}
        self.deferrable = deferrable
        self._ref: RunRef | None = None

    def _find(self, context: Context) -> RunRef:
        if self._ref is None:
            self._ref = self.hook.run(self.hook.platform.find_run(self.run_id))
            publish_run_url(self, context["ti"], self._ref.url)
        return self._ref

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        ref = self._find(context)
        self.defer(
            trigger=RemoteRunTrigger(
                conn_id=self.conn_id,
                ref=ref.to_json(),
                poll_interval=self.poke_interval,
                deadline=time.time() + self.timeout if self.timeout else None,
                target_phases=sorted(
                    p.value
                    for p in (self.targets | {Phase.PAUSED} if self.on_paused == "fail" else self.targets)
                ),
                transient_error_budget=self.transient_error_budget,
                abort_on_kill=False,
            ),
            method_name="execute_complete",
            timeout=None,
        )

    def poke(self, context: Context) -> bool:
        read_at = time.time()
        try:
            ref = self._find(context)
            status = self.hook.run(self.hook.platform.status(ref), policy=WAIT_READS)
        except RemoteTaskError as error:
            if not is_transient(error):
                raise
            self._tolerate(context, read_at, error)
            return False
        self.log.info("Run %s is %s", ref.run_id, status.describe())
        return self._reached(ref, status)

    def _tolerate(self, context: Context, read_at: float, error: RemoteTaskError) -> None:
        failing_for = failing_for_seconds(context, read_at, self.poke_interval)
        ref = self._ref or RunRef(platform=self.hook.platform_name, run_id=self.run_id)
        if failing_for >= self.transient_error_budget:
            raise BudgetExceededError(ref, failing_for, self.transient_error_budget, error) from error
        self.log.warning("Could not read the state of run %s (%s); still waiting.", self.run_id, error)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> None:
        ref = RunRef.model_validate(event["ref"])
        remember_run_url(self, ref.url)
        raise_error_event(event, f"Waiting for run {self.run_id} failed")
        if event.get("outcome") == "timeout":
            raise RemoteRunError(
                f"Run {ref.run_id} did not reach {self._target_text()} in time. {ref.url}",
                phase="",
                url=ref.url,
            )
        status = RunStatus.model_validate(event["status"])
        self._reached(ref, status)

    def _reached(self, ref: RunRef, status: RunStatus) -> bool:
        phase = status.phase
        if phase in FAILURE_PHASES and phase not in self.targets and self.fail_on_failure:
            raise RemoteRunError(
                f"Run {ref.run_id} ended {phase.value} ({status.raw_phase}): "
                f"{status.message or 'no error message was reported'}. {ref.url}",
                phase=phase.value,
                kind=status.error_kind,
                url=ref.url,
            )
        if phase in self.targets:
            return True
        if phase is Phase.PAUSED and self.on_paused == "fail":
            raise RemoteRunError(
                f"Run {ref.run_id} is {status.describe()}, and on_paused='fail'. {ref.url}".rstrip(),
                phase=phase.value,
                url=ref.url,
            )
        if phase in TERMINAL_PHASES:
            if not self.fail_on_failure:
                return True
            raise RemoteRunError(
                f"Run {ref.run_id} ended {phase.value} without reaching {self._target_text()}. {ref.url}",
                phase=phase.value,
                url=ref.url,
            )
        return False

    def _target_text(self) -> str:
        return " or ".join(sorted(p.value for p in self.targets))
