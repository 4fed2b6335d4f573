"""RemoteTaskOperator: run a task on a remote platform, wait for it, hand its outputs to XCom."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from functools import partial
from typing import Any, Literal, get_args

from airflow.sdk import BaseOperator, Context
from airflow.sdk.configuration import conf
from pydantic import BaseModel

from airflow_remote_tasks.core import arguments
from airflow_remote_tasks.core.errors import (
    ApiError,
    NotFoundError,
    OutputsTooLargeError,
    PermanentError,
    RemoteRunError,
    RemoteTaskError,
    TransportError,
    clip,
    is_permanent,
)
from airflow_remote_tasks.core.executors import GATEWAY_STATUSES, drive
from airflow_remote_tasks.core.models import RunOrigin, RunRef, RunStatus, StreamedOutput
from airflow_remote_tasks.core.phases import TERMINAL_PHASES, OnPaused, Phase, check_on_paused
from airflow_remote_tasks.core.retry import WAIT_READS
from airflow_remote_tasks.core.waiting import WaitOutcome, step_runner, wait_for_run
from airflow_remote_tasks.hooks.base import UsesRemoteHook, hook_for_platform
from airflow_remote_tasks.links.remote_run import RemoteRunLink, publish_run_url, remember_run_url
from airflow_remote_tasks.operators.output_path import check_writable, deliver
from airflow_remote_tasks.triggers.remote_run import RemoteRunTrigger, raise_error_event

STATE_KEY = "remote_run"
RUN_ID_KEY = "run_id"
FetchLogs = Literal["on_failure", "always", "never"]


class RunRecord(BaseModel):
    """What survives retries and clears in ``task_state_store``.

    ``generation`` numbers the runs this task instance has started; it is part of the idempotency key,
    so a resent submit attaches to the same run, and a new generation starts a new one. It is stored
    *before* the submit, so a worker that dies in between reattaches on its next try.
    """

    generation: int = 0
    ref: RunRef | None = None
    delivered: bool = False
    deadline: float | None = None


class WaitsForRun(UsesRemoteHook, BaseOperator):
    """What the operators that wait on a remote run share: waiting in the worker or the triggerer, turning
    the final state into outputs or an error, the link to the run, and aborting the run when killed.

    :param conn_id: connection of one of this provider's types (``remote_tasks_flyte``, ``remote_tasks_julep``).
    :param deferrable: wait in the triggerer (default: ``[operators] default_deferrable``).
    :param poll_interval: seconds between status reads.
    :param timeout: the run's own time limit; when it passes the run is aborted and the task fails.
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

    def _wait(self, context: Context, ref: RunRef, deadline: float | None) -> Any:
        """Publish the run's id and link, then wait for it here or in the triggerer."""
        self._ref = ref
        ti = context["ti"]
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
                # No framework timeout: it would fail the task but leave the remote run going.
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
        return self._finish(context, outcome)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        remember_run_url(self, str(event.get("ref", {}).get("url", "")))
        raise_error_event(event, "Waiting for run failed")
        if self._hook is None and "ref" in event:
            self._hook = hook_for_platform(event["ref"]["platform"], self.conn_id)
        return self._finish(context, WaitOutcome.model_validate(event))

    def _finish(self, context: Context, outcome: WaitOutcome) -> Any:
        ref = outcome.ref
        platform = self.hook.platform
        if outcome.outcome == "timeout":
            stopped = self.hook.run(
                platform.abort(ref, f"Aborted by Airflow: timeout of {self.timeout}s passed.")
            )
            fate = (
                "it was aborted"
                if stopped
                else f"{platform.name} cannot stop this kind of run, so it goes on"
            )
            raise RemoteRunError(
                f"Run {ref.run_id} did not finish within the operator's timeout of {self.timeout}s; {fate}. "
                f"{ref.url}".rstrip(),
                phase=Phase.ABORTED.value if stopped else "",
                url=ref.url,
            )
        status = outcome.status
        assert status is not None
        if status.phase is Phase.PAUSED:
            return self._paused(context, ref, status)
        if not status.phase.is_success:
            self._copy_logs(ref, status, wanted=self.fetch_logs != "never")
            kind = (
                f" [{status.error_kind or status.error_code}]"
                if (status.error_kind or status.error_code)
                else ""
            )
            raise RemoteRunError(
                f"Run {ref.run_id} ended {status.phase.value} ({status.raw_phase}){kind}: "
                f"{status.message or 'no error message was reported'}. {ref.url}".rstrip(),
                phase=status.phase.value,
                kind=status.error_kind,
                url=ref.url,
            )
        self._copy_logs(ref, status, wanted=self.fetch_logs == "always")
        value = self.hook.run(platform.outputs(ref))
        if isinstance(value, StreamedOutput) or self.output_path:
            output = value if isinstance(value, StreamedOutput) else None
            value = deliver(
                self.hook.run, platform, ref, output, value, self.output_path, self.max_output_bytes
            )
        self._check_size(ref, value)
        self._delivered(context, ref)
        self._ref = None
        return value

    def _paused(self, context: Context, ref: RunRef, status: RunStatus) -> Any:
        if self.on_paused == "fail":
            raise RemoteRunError(
                f"Run {ref.run_id} is {status.describe()}, and on_paused='fail'. It was left waiting: resume "
                f"it (ResumeRunOperator) or cancel it, or set on_paused='wait'. {ref.url}".rstrip(),
                phase=status.phase.value,
                url=ref.url,
            )
        pending = {
            "run_id": ref.run_id,
            "phase": status.phase.value,
            "raw_phase": status.raw_phase,
            "waiting_for": self.hook.run(self.hook.platform.outputs(ref)),
        }
        self.log.info("Run %s waits for input; returning its pending state.", ref.run_id)
        self._check_size(ref, pending)
        self._delivered(context, ref)
        self._ref = None  # the run is meant to go on: killing this task must not cancel it now
        return pending

    def _delivered(self, context: Context, ref: RunRef) -> None:
        """The outputs are about to reach XCom."""

    def _check_size(self, ref: RunRef, value: Any) -> None:
        size = len(json.dumps(value, default=str).encode())
        if size > self.max_output_bytes:
            raise OutputsTooLargeError(
                f"Run {ref.run_id} succeeded but its outputs are {size:,} bytes, over max_output_bytes="
                f"{self.max_output_bytes:,}; they were not written to XCom. Have the task write large results "
                f"to storage and return their URI, or raise max_output_bytes. {ref.url}".rstrip()
            )

    def _copy_logs(self, ref: RunRef, status: RunStatus, *, wanted: bool) -> None:
        if not wanted or self.log_lines <= 0:
            return
        try:
            lines = self.hook.run(self.hook.platform.logs(ref, status, self.log_lines))
        except RemoteTaskError as error:
            self.log.warning("Could not read the remote logs of run %s: %s", ref.run_id, error)
            return
        if lines:
            text = "\n".join(clip(line) for line in lines)
            self.log.info("Last %d log lines of run %s:\n%s", len(lines), ref.run_id, text)

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


class RemoteTaskOperator(WaitsForRun):
    """Submit ``task`` with ``inputs`` on the platform named by ``conn_id``'s type and wait for it.

    :param task: the platform's task: Flyte ``environment.function``; Julep a task id, a task name on the
        connection's agent, or a task definition (a dict with ``name``, ``main``, ``input_schema``...; created,
        or updated when it changed).
    :param inputs: task inputs; checked against the task's interface before anything is submitted.
    :param version: task version, or ``"latest"`` (Flyte).
    :param labels: labels put on the remote run (Julep: execution metadata).
    :param env: environment variables for the remote run (Flyte).
    :param output_path: a URI (``s3://...``, ``gs://...``, ``file:///...``, anything ``ObjectStoragePath``
        opens) to write the run's outputs to instead of XCom: an export is streamed there chunk by chunk, a
        value is written as JSON. XCom then gets a summary (``path``, ``bytes``, ``rows`` for line-oriented
        formats such as ndjson, ``errors``). Checked to be writable before anything is submitted, without
        touching a file already there; each file reaches it only when complete and checked (S3, GCS: the upload
        is completed then; elsewhere a file written beside it is moved into place).

    The other arguments are :class:`WaitsForRun`'s. Returns the run's outputs: Flyte, the value of a single
    output or a dict by output name (``multiple_outputs=True`` makes one XCom each); Julep, the execution's
    ``output``.
    """

    template_fields: Sequence[str] = ("task", "version", "inputs", "labels", "env", "output_path")
    template_fields_renderers = {"task": "json", "inputs": "json", "labels": "json", "env": "json"}
    ui_color = "#e8f0fe"

    def __init__(
        self,
        *,
        task: str | Mapping[str, Any],
        inputs: Mapping[str, Any] | None = None,
        version: str = "latest",
        labels: Mapping[str, str] | None = None,
        env: Mapping[str, str] | None = None,
        output_path: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if output_path is not None and not isinstance(output_path, str):
            output_path = str(output_path)  # an ObjectStoragePath: kept as its URI, which templates render
        self.output_path = output_path
        self.task = task if isinstance(task, str) else dict(task)
        # Template fields: checked now unless Airflow fills them in when the task runs (then in execute).
        self.inputs = arguments.templated_mapping("inputs", inputs)
        self.version = version
        self.labels = arguments.templated_mapping("labels", labels)
        self.env = arguments.templated_mapping("env", env)

    def execute(self, context: Context) -> Any:
        self.inputs = arguments.rendered_mapping("inputs", self.inputs)
        self.labels = arguments.rendered_mapping("labels", self.labels)
        self.env = arguments.rendered_mapping("env", self.env)
        store = context["task_state_store"]
        record = RunRecord.model_validate(store.get(STATE_KEY) or {})
        ref = self._reattach(record, cleared=follows_a_clear(context["ti"], self.retries))
        if ref is None:
            ref = self._submit(context, record)
        return self._wait(context, ref, record.deadline)

    def _reattach(self, record: RunRecord, cleared: bool) -> RunRef | None:
        """The earlier try's run, if it can still deliver and the task was not cleared since; ``record`` moves
        to a new generation otherwise. A run a person cleared the task away from is aborted."""
        if record.ref is None or record.delivered:
            if record.delivered:  # outputs already handed over: a clear or a new try runs the task again
                record.generation += 1
                record.ref, record.delivered, record.deadline = None, False, None
            return None
        try:
            status = self.hook.run(self.hook.platform.status(record.ref))
        except NotFoundError:
            status = None
        if cleared:
            # A person cleared the task to run it again. Airflow reruns a cleared deferred task before its
            # triggerer cancels the old trigger, whose on_kill then finds the task deferred again and leaves
            # the run alone: stopping it falls to this try.
            if status is not None and not status.is_terminal:
                self.hook.run(
                    self.hook.platform.abort(record.ref, "Aborted by Airflow: the task was cleared.")
                )
                ended = "was aborted"
            else:
                ended = f"ended {status.describe()}" if status else "is gone"
            self.log.info(
                "The task was cleared: the earlier try's run %s %s; starting a new run.",
                record.ref.run_id,
                ended,
            )
        elif status is not None and (not status.is_terminal or status.phase.is_success):
            self.log.info(
                "Reattaching to run %s from an earlier try (%s) %s",
                record.ref.run_id,
                status.describe(),
                record.ref.url,
            )
            return record.ref
        else:
            self.log.info(
                "The earlier try's run %s ended %s; starting a new run.",
                record.ref.run_id,
                status.describe() if status else "and is gone",
            )
        record.generation += 1
        record.ref, record.deadline = None, None
        return None

    def _submit(self, context: Context, record: RunRecord) -> RunRef:
        platform = self.hook.platform
        interface = self.hook.run(platform.resolve_task(self.task, self.version))
        wire_inputs = platform.prepare_inputs(interface, self.inputs)
        if self.output_path:
            check_writable(self.output_path)
        store = context["task_state_store"]
        if record.deadline is None and self.timeout is not None:
            record.deadline = time.time() + self.timeout
        store.set(STATE_KEY, record.model_dump(mode="json"))
        ti = context["ti"]
        origin = RunOrigin(
            dag_id=ti.dag_id,
            run_id=ti.run_id,
            task_id=ti.task_id,
            map_index=ti.map_index if ti.map_index is not None else -1,
            generation=record.generation,
        )
        try:
            ref = self.hook.run(
                platform.submit(
                    interface,
                    wire_inputs,
                    origin=origin,
                    labels={"created-by": "airflow", **self.labels},
                    env=self.env,
                )
            )
        except RemoteTaskError as error:
            raise _submit_failed(interface.task, error) from error
        record.ref = ref
        store.set(STATE_KEY, record.model_dump(mode="json"))
        version = f" (version {interface.version})" if interface.version else ""
        self.log.info("Started run %s of %s%s %s", ref.run_id, interface.task, version, ref.url)
        return ref

    def _delivered(self, context: Context, ref: RunRef) -> None:
        store = context["task_state_store"]
        record = RunRecord.model_validate(store.get(STATE_KEY) or {})
        record.ref, record.delivered = ref, True
        store.set(STATE_KEY, record.model_dump(mode="json"))


def follows_a_clear(ti: Any, retries: int | None) -> bool:
    """Whether this try was started by a person clearing the task instance, not by one of Airflow's retries.

    A clear sets ``max_tries`` to the cleared try's number plus the task's retries, so the first try after it
    is ``max_tries - retries + 1`` (the rule Airflow's own task runner uses to find a reschedule's first try).
    """
    try_number, max_tries = getattr(ti, "try_number", None), getattr(ti, "max_tries", None)
    if not isinstance(try_number, int) or not isinstance(max_tries, int):
        return False
    return try_number > 1 and try_number == max_tries - (retries or 0) + 1


# What a failed submit means for the user, as far as it is known: the first that holds is said. A run may have
# started only where a call that starts one (HttpRequest.starts_run) may have reached the platform and no answer
# came back to it; a gateway's answer to any other call says nothing of a run.
SUBMIT_OUTCOMES: tuple[tuple[Callable[[RemoteTaskError], bool], str], ...] = (
    (
        lambda error: error.answer_lost,
        "No answer came back to a call the platform may have carried out, so a run may have started; a retry "
        "of this task attaches to it rather than starting another.",
    ),
    (
        lambda error: isinstance(error, ApiError) and error.status in GATEWAY_STATUSES,
        "A gateway answered in the platform's place, to a call that starts no run, so no run was started.",
    ),
    (
        lambda error: isinstance(error, ApiError) and error.status > 0,
        "The platform refused it, so no run was started.",
    ),
    (
        lambda error: isinstance(error, TransportError),
        "No call that starts a run got through to the platform, so no run was started.",
    ),
)


def _submit_failed(task: str, error: RemoteTaskError) -> RemoteTaskError:
    """The submit's error, saying whether a run may have started (see :data:`SUBMIT_OUTCOMES`); Airflow retries
    it only when the original error is worth retrying."""
    outcome = next((text for holds, text in SUBMIT_OUTCOMES if holds(error)), "")
    message = f"Could not start a run of {task}: {str(error).rstrip('.')}. {outcome}".rstrip()
    return PermanentError(message) if is_permanent(error) else RemoteTaskError(message)
