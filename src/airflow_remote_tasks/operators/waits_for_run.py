"""WaitsForRun: what the operators that wait on a remote run share, from publishing its link to its result."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from typing import Any, Literal, get_args

from airflow.sdk import BaseOperator, Context
from airflow.sdk.configuration import conf
from airflow.sdk.exceptions import AirflowTaskTimeout

from airflow_remote_tasks.core import arguments
from airflow_remote_tasks.core.errors import RemoteRunError, RemoteTaskError
from airflow_remote_tasks.core.executors import drive
from airflow_remote_tasks.core.models import RunRef, RunStatus, StreamedOutput
from airflow_remote_tasks.core.phases import TERMINAL_PHASES, OnPaused, Phase, check_on_paused
from airflow_remote_tasks.core.retry import WAIT_READS
from airflow_remote_tasks.core.run_wait import WaitOutcome, wait_for_run
from airflow_remote_tasks.core.steps import step_runner
from airflow_remote_tasks.links.remote_run import RemoteRunLink, publish_run_url, remember_run_url
from airflow_remote_tasks.operators import results
from airflow_remote_tasks.operators.asset_events import record_asset_events
from airflow_remote_tasks.operators.output_path import deliver
from airflow_remote_tasks.registry import UsesRemoteHook, hook_for_platform
from airflow_remote_tasks.triggers.remote_run import RemoteRunTrigger, raise_error_event

RUN_ID_KEY = "run_id"
FetchLogs = Literal["on_failure", "always", "never"]


def try_started(context: Context) -> float:
    """When this try began (epoch seconds): Airflow keeps a try's ``start_date`` across its deferrals, and a
    retry has its own."""
    start = getattr(context["ti"], "start_date", None)
    return start.timestamp() if start is not None else time.time()


class WaitsForRun(UsesRemoteHook, BaseOperator):
    """What the operators that wait on a remote run share: waiting in the worker or the triggerer, turning
    the final state into outputs or an error, the link to the run, and aborting the run when killed or when
    its deadline passes: the earlier of ``timeout`` and the task's ``execution_timeout``.

    Airflow itself times only ``execute`` (and the method a deferral resumes) in the worker, not a deferral:
    the deadline goes to the trigger with the run, which ends the wait when it passes; the resumed task then
    aborts the run. In the worker the wait ends at the deadline too; when Airflow's own alarm comes first,
    the run is aborted with the same reason, once.

    :param conn_id: connection of one of this provider's types (``remote_tasks_flyte``, ``remote_tasks_julep``).
    :param deferrable: wait in the triggerer (default: ``[operators] default_deferrable``).
    :param poll_interval: seconds between status reads.
    :param timeout: the run's own time limit, counted from its submit; when it passes the run is aborted and
        the task fails. The task's ``execution_timeout`` is a limit of the run too: counted from the start of
        the try that started the run, in the worker and in the triggerer alike. The earlier of the two to pass
        aborts the run, and the task fails naming it (a failure Airflow retries, where the task has retries).
    :param on_paused: when the run waits for input (Julep ``awaiting_input``): keep ``"wait"``-ing, ``"fail"``,
        or ``"succeed"`` returning the pending state (``run_id``, ``phase``, ``waiting_for``).
    :param max_output_bytes: fail instead of writing outputs larger than this (JSON size) to XCom.
    :param fetch_logs: copy the tail of the remote logs into the task log: on failure, always, or never.
    :param log_lines: how many remote log lines to copy.
    :param transient_error_budget: seconds of consecutive transient API errors tolerated while waiting.
    """

    operator_extra_links = (RemoteRunLink(),)
    output_path: str | None = None  # where outputs go instead of XCom (RemoteTaskOperator's argument)

    def __init__(
        self,
        *,
        conn_id: str,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float = 10.0,
        timeout: timedelta | float | None = None,
        on_paused: OnPaused = "wait",
        max_output_bytes: int = 256 * 1024,
        fetch_logs: FetchLogs = "on_failure",
        log_lines: int = 50,
        transient_error_budget: float = 600.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        # Checked here, when the DAG is parsed: a bad value fails the DAG import, not a submitted run.
        self.conn_id = conn_id
        self.deferrable = deferrable
        self.poll_interval = arguments.seconds("poll_interval", poll_interval)
        self.timeout = arguments.optional_seconds("timeout", timeout)
        self.on_paused = check_on_paused(on_paused)
        self.max_output_bytes = arguments.count("max_output_bytes", max_output_bytes)
        self.fetch_logs: FetchLogs = arguments.choice("fetch_logs", fetch_logs, get_args(FetchLogs))  # type: ignore[assignment]
        self.log_lines = arguments.count("log_lines", log_lines)
        self.transient_error_budget = arguments.seconds(
            "transient_error_budget", transient_error_budget, positive=False
        )
        self._ref: RunRef | None = None

    @property
    def _targets(self) -> frozenset[Phase]:
        return TERMINAL_PHASES if self.on_paused == "wait" else TERMINAL_PHASES | {Phase.PAUSED}

    def _run_started(self, context: Context) -> float:
        """When the try that started the run began (epoch seconds): the task's ``execution_timeout`` counts
        from it. Here, this try; RemoteTaskOperator keeps it with the run, for the tries that reattach."""
        return try_started(context)

    def _deadline(self, context: Context, timeout_at: float | None) -> float | None:
        """The earlier of ``timeout_at`` (when the operator's ``timeout`` passes) and the end of the task's
        ``execution_timeout``, counted from :meth:`_run_started`."""
        if self.execution_timeout is None:
            return timeout_at
        ends = self._run_started(context) + self.execution_timeout.total_seconds()
        return ends if timeout_at is None else min(timeout_at, ends)

    def _passed_limit(self, context: Context) -> results.Limit:
        """Which limit a wait that reached its deadline was held to: the ``execution_timeout`` once its end
        has passed, or when it is the only limit; else the operator's ``timeout``."""
        if self.execution_timeout is None:
            return "timeout"
        ends = self._run_started(context) + self.execution_timeout.total_seconds()
        return "execution_timeout" if self.timeout is None or ends <= time.time() else "timeout"

    def _wait(self, context: Context, ref: RunRef, deadline: float | None) -> Any:
        """Publish the run's id and link, then wait for it here or in the triggerer: until it ends, or until
        ``deadline`` (when the operator's ``timeout`` passes) or the task's ``execution_timeout`` passes.

        :raises RemoteRunError: the run did not succeed, or a limit passed (the run was aborted).
        """
        deadline = self._deadline(context, deadline)
        self._ref = ref
        ti = context["ti"]
        try:
            ti.xcom_push(key=RUN_ID_KEY, value=ref.run_id)
            publish_run_url(self, ti, ref.url)
            if self.deferrable:
                self.defer(
                    trigger=RemoteRunTrigger(
                        conn_id=self.conn_id,
                        ref=ref.to_json(),
                        poll_interval=self.poll_interval,
                        deadline=deadline,
                        target_phases=sorted(p.value for p in self._targets),
                        transient_error_budget=self.transient_error_budget,
                    ),
                    method_name="execute_complete",
                    # No framework timeout: Airflow would fail the task without the trigger's on_kill, and the
                    # remote run would go on. The trigger holds the deadline instead.
                    timeout=None,
                )
            outcome = drive(
                wait_for_run(
                    self.hook.platform,
                    ref,
                    poll_interval=self.poll_interval,
                    targets=self._targets,
                    deadline=deadline,
                    transient_error_budget=self.transient_error_budget,
                    logger=self.log,
                ),
                step_runner(self.hook.run, read_status=partial(self.hook.run, policy=WAIT_READS)),
            )
        except AirflowTaskTimeout as alarm:
            # Airflow's execution_timeout alarm came before the deadline (it may have cut a request short on
            # the hook's client): the run is aborted on a client of its own.
            raise self._timed_out(ref, "execution_timeout", self.hook.run_alone) from alarm
        return self._finish(context, outcome)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        remember_run_url(self, str(event.get("ref", {}).get("url", "")))
        raise_error_event(event, "Waiting for run failed")
        if self._hook is None and "ref" in event:
            self._hook = hook_for_platform(event["ref"]["platform"], self.conn_id)
        return self._finish(context, WaitOutcome.model_validate(event))

    def _finish(self, context: Context, outcome: WaitOutcome) -> Any:
        """The task's result: the run's outputs, its pending state (paused), or the error of how it ended."""
        ref = outcome.ref
        platform = self.hook.platform
        if outcome.outcome == "timeout":
            raise self._timed_out(ref, self._passed_limit(context), self.hook.run)
        status = outcome.status
        assert status is not None  # a reached wait has its status
        if status.phase is Phase.PAUSED:
            return self._paused(context, ref, status)
        if not status.phase.is_success:
            self._copy_logs(ref, status, wanted=self.fetch_logs != "never")
            raise results.ended_unsuccessfully(ref, status)
        self._copy_logs(ref, status, wanted=self.fetch_logs == "always")
        value = self.hook.run(platform.outputs(ref))
        if isinstance(value, StreamedOutput) or self.output_path:
            output = value if isinstance(value, StreamedOutput) else None
            value = deliver(
                self.hook.run, platform, ref, output, value, self.output_path, self.max_output_bytes
            )
        results.check_size(ref, value, self.max_output_bytes)
        record_asset_events(context, self, ref, status, value)
        self._delivered(context, ref)
        self._ref = None
        return value

    def _paused(self, context: Context, ref: RunRef, status: RunStatus) -> Any:
        if self.on_paused == "fail":
            raise results.paused_refused(ref, status)
        pending = {
            "run_id": ref.run_id,
            "phase": status.phase.value,
            "raw_phase": status.raw_phase,
            "waiting_for": self.hook.run(self.hook.platform.outputs(ref)),
        }
        self.log.info("Run %s waits for input; returning its pending state.", ref.run_id)
        results.check_size(ref, pending, self.max_output_bytes)
        record_asset_events(context, self, ref, status, pending)
        self._delivered(context, ref)
        self._ref = None  # the run is meant to go on: killing this task must not cancel it now
        return pending

    def _delivered(self, context: Context, ref: RunRef) -> None:
        """The outputs are about to reach XCom."""

    def _copy_logs(self, ref: RunRef, status: RunStatus, *, wanted: bool) -> None:
        if wanted:
            results.copy_logs(self.hook, self.log, ref, status, self.log_lines)

    def _timed_out(self, ref: RunRef, limit: results.Limit, run: Callable[[Any], Any]) -> RemoteRunError:
        """Abort ``ref`` with ``run`` (the hook's ``run`` or ``run_alone``) because ``limit`` passed: the error
        that says so, and whether the abort took. Raises nothing of the abort's own: its error is told."""
        self._ref = None  # aborted here: on_kill, which Airflow calls after its own alarm, leaves it alone
        seconds = (
            self.timeout if limit == "timeout" else (self.execution_timeout or timedelta()).total_seconds()
        )
        platform = self.hook.platform
        try:
            stopped: bool | RemoteTaskError = run(
                platform.abort(ref, f"Aborted by Airflow: {results.limit_words(limit, seconds)} passed.")
            )
        except RemoteTaskError as error:
            stopped = error
        return results.timed_out(ref, limit, seconds, stopped, platform.name)

    def on_kill(self) -> None:
        """The worker is stopping this task: stop the remote run it is waiting on."""
        ref = self._ref
        if ref is None:
            return
        self.log.info("The task is being killed: aborting run %s %s", ref.run_id, ref.url)
        stopped = self.hook.run_alone(
            self.hook.platform.abort(ref, "Aborted by Airflow: the task instance was killed.")
        )
        if stopped:
            self.log.info("Aborted run %s", ref.run_id)
        else:
            self.log.warning("Run %s cannot be stopped on %s; it goes on.", ref.run_id, ref.platform)
