"""RemoteRunSensor: wait for a run that something else started."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from airflow.sdk import BaseSensorOperator, Context, PokeReturnValue
from airflow.sdk.configuration import conf

from airflow_remote_tasks.core import arguments
from airflow_remote_tasks.core.errors import RemoteRunError
from airflow_remote_tasks.core.executors import drive
from airflow_remote_tasks.core.models import RunRef, RunStatus
from airflow_remote_tasks.core.phases import (
    FAILURE_PHASES,
    TERMINAL_PHASES,
    OnPaused,
    Phase,
    check_on_paused,
    parse_phases,
)
from airflow_remote_tasks.core.run_outcome import MAX_OUTCOME_OUTPUT_BYTES, output_bytes, run_outcome
from airflow_remote_tasks.core.run_wait import BudgetExceededError, WaitOutcome, wait_for_run
from airflow_remote_tasks.core.steps import step_runner
from airflow_remote_tasks.links.remote_run import RemoteRunLink, publish_run_url
from airflow_remote_tasks.registry import UsesRemoteHook
from airflow_remote_tasks.sensors import deadline
from airflow_remote_tasks.sensors.poking import poke_once
from airflow_remote_tasks.triggers.remote_run import RemoteRunTrigger, raise_error_event

SUCCESS = frozenset({Phase.SUCCEEDED})


class RemoteRunSensor(UsesRemoteHook, BaseSensorOperator):
    """Succeeds when run ``run_id`` reaches one of ``target_phases`` (default: succeeded).

    A run that ends failed, aborted or timed out fails the sensor unless ``fail_on_failure=False`` or that
    phase is itself a target. A run that ends before reaching a target fails the sensor.
    ``on_paused`` says what a run that waits for input (Julep ``awaiting_input``) means: keep ``"wait"``-ing,
    ``"fail"``, or ``"succeed"``.

    Returns (XCom) the run's ``run_id``, ``phase``, ``raw_phase`` and ``url``, with what a succeeded run
    returned (``outputs``) or what a paused one waits for (``waiting_for``) when the platform answers it as a
    value of at most ``max_output_bytes`` (JSON; 64 KiB by default, 1 MiB at most, since the outcome is kept in
    Airflow's database); a stream of bytes (an export) is described, not read. The same in poke, reschedule
    and deferrable mode. A progress line is logged when it changes.

    Deferrable with a static ``run_id`` (no template, no XComArg), the sensor starts in the triggerer
    (``start_from_trigger``, on by default): the scheduler defers it with no worker process, and the trigger
    finds the run; a worker runs only ``execute_complete``, which publishes the run's link. A templated
    ``run_id`` defers from the worker once rendered. Deferred either way, the wait ends at the first of
    ``timeout`` and ``execution_timeout`` to pass, both counted from the task's start, and the sensor fails
    naming it (``timeout`` as Airflow's sensor timeout, without retries; ``execution_timeout`` as Airflow's
    task timeout, with retries).

    The sensor never aborts the run, whatever ends it (a timeout, a failure, a person marking it failed):
    it did not start the run, and whatever did may still want it.

    :raises ConfigurationError: when the DAG is parsed, for a ``max_output_bytes`` over 1 MiB (or not a whole
        number), naming it.
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
        max_output_bytes: int = MAX_OUTCOME_OUTPUT_BYTES,
        start_from_trigger: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        arguments.seconds("poke_interval", self.poke_interval)  # 0 would poll without pause
        self.max_output_bytes = output_bytes("max_output_bytes", max_output_bytes)
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
        # A template or an XComArg has its value only in the worker, when the task runs.
        self.start_from_trigger = start_from_trigger and deferrable and not deadline.holds_template(run_id)
        if self.start_from_trigger:
            self.start_trigger_args = deadline.start_trigger_args(
                self, self._trigger(run_id=run_id, deadline_from_task=True)
            )

    def _find(self, context: Context) -> RunRef:
        if self._ref is None:
            self._ref = self.hook.find_run(self.run_id)
            publish_run_url(self, context["ti"], self._ref.url)
        return self._ref

    @property
    def _wait_targets(self) -> frozenset[Phase]:
        """Where the wait stops (the sensor then decides): its targets, and a pause when that fails it."""
        return self.targets | {Phase.PAUSED} if self.on_paused == "fail" else self.targets

    def _trigger(self, **run: Any) -> RemoteRunTrigger:
        """The sensor's wait in the triggerer, on ``run`` (``ref=`` or ``run_id=``) and until its deadline."""
        return RemoteRunTrigger(
            conn_id=self.conn_id,
            poll_interval=self.poke_interval,
            target_phases=sorted(p.value for p in self._wait_targets),
            transient_error_budget=self.transient_error_budget,
            abort_on_kill=False,
            outcome_output_bytes=self.max_output_bytes,
            **run,
        )

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        ref = self._find(context)
        self.defer(
            trigger=self._trigger(ref=ref.to_json(), deadline=deadline.deadline(self, context)),
            method_name="execute_complete",
            timeout=None,  # the trigger's deadline holds the sensor's limits, and says which one passed
        )

    def poke(self, context: Context) -> Any:
        """One status read, through the same procedure as the trigger's wait (so the same lines)."""

        def exceeded(failing_for: float, error: Exception) -> BudgetExceededError:
            ref = self._ref or RunRef(platform=self.hook.platform_name, run_id=self.run_id)
            return BudgetExceededError(ref, failing_for, self.transient_error_budget, error)

        outcome: WaitOutcome | None = poke_once(
            self,
            context,
            wait_for_run,
            lambda: self._find(context),
            targets=self._wait_targets,
            what=BudgetExceededError.failing(self.run_id),
            exceeded=exceeded,
        )
        if outcome is None or outcome.status is None or not self._reached(outcome.ref, outcome.status):
            return False
        return PokeReturnValue(is_done=True, xcom_value=self._outcome(outcome.ref, outcome.status))

    def _outcome(self, ref: RunRef, status: RunStatus) -> dict[str, Any]:
        return drive(
            run_outcome(self.hook.platform, ref, status, self.max_output_bytes), step_runner(self.hook.run)
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        # A trigger that started from the run id may have failed before it found the run.
        ref = RunRef.model_validate(event["ref"]) if event.get("ref") else None
        if ref is not None:
            # Pushed again after a deferral from the worker (the same value): a start in the triggerer had
            # no worker step to push it in.
            publish_run_url(self, context["ti"], ref.url)
        raise_error_event(event, f"Waiting for run {self.run_id} failed")
        assert ref is not None  # every event but an error's has the run
        if event.get("outcome") == "timeout":
            raise deadline.timed_out(self, f"Run {ref.run_id} did not reach {self._target_text()}", ref.url)
        outcome = WaitOutcome.model_validate(event)
        assert outcome.status is not None  # a reached wait has its status
        self._reached(ref, outcome.status)
        # A trigger serialized before it read outcomes (an upgrade while deferred) leaves it to the worker.
        return outcome.result if outcome.result is not None else self._outcome(ref, outcome.status)

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Context) -> Any:
        return super().resume_execution(*deadline.resumed(next_method, next_kwargs), context)

    def trigger_timed_out(self, context: Context) -> Any:
        """Airflow's own trigger timeout passed before the trigger's event came: the same failure."""
        raise deadline.timed_out(self, f"Run {self.run_id} did not reach {self._target_text()}")

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
