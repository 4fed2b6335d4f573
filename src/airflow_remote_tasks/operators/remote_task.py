"""RemoteTaskOperator: submit a task on a remote platform, or attach to the run an earlier try started, then
wait for it (:class:`~airflow_remote_tasks.operators.waits_for_run.WaitsForRun`)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from airflow.sdk import Context
from pydantic import BaseModel

from airflow_remote_tasks.core import arguments
from airflow_remote_tasks.core.errors import (
    ApiError,
    NotFoundError,
    PermanentError,
    RemoteTaskError,
    TransportError,
    is_permanent,
)
from airflow_remote_tasks.core.executors import GATEWAY_STATUSES
from airflow_remote_tasks.core.models import RunOrigin, RunRef
from airflow_remote_tasks.core.storage import check_writable
from airflow_remote_tasks.operators.asset_events import output_path_outlets
from airflow_remote_tasks.operators.lineage import LineageMixin, lineage_labels
from airflow_remote_tasks.operators.waits_for_run import WaitsForRun, try_started

STATE_KEY = "remote_run"


class RunRecord(BaseModel):
    """What survives retries and clears in ``task_state_store``.

    ``generation`` numbers the runs this task instance has started; it is part of the idempotency key,
    so a resent submit attaches to the same run, and a new generation starts a new one. It is stored
    *before* the submit, so a worker that dies in between reattaches on its next try.

    ``deadline`` is when the operator's ``timeout`` passes, ``started`` when the try that started the run began
    (the task's ``execution_timeout`` counts from it); both are epoch seconds, kept while later tries reattach.
    A record written before ``started`` was kept reads as one whose run this try started.
    """

    generation: int = 0
    ref: RunRef | None = None
    delivered: bool = False
    deadline: float | None = None
    started: float | None = None


class RemoteTaskOperator(LineageMixin, WaitsForRun):
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

    The other arguments are :class:`WaitsForRun`'s; the run is held to the earlier of ``timeout`` and the task's
    ``execution_timeout``, both counted from the try that started it: a retry that reattaches to the run keeps
    its deadline. A try that timed out aborted its run, so a retry of it starts a new run, with a new deadline.
    Returns the run's outputs: Flyte, the value of a single output or a dict by output name
    (``multiple_outputs=True`` makes one XCom each); Julep, the execution's ``output``.
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
        # The file's asset event goes through an alias, added only once the file is in place.
        self.outlets = [*self.outlets, *output_path_outlets(output_path)]
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
        platform.check_env(self.env)
        interface = self.hook.run(platform.resolve_task(self.task, self.version))
        job = platform.prepare_inputs(interface, self.inputs)  # parsed once: submit gets it as it is
        if self.output_path:
            check_writable(self.output_path)
        store = context["task_state_store"]
        if record.deadline is None and self.timeout is not None:
            record.deadline = time.time() + self.timeout
        # This try starts the run (or, after an answer was lost, attaches to the one it started): the run's
        # execution_timeout counts from here, not from an earlier try whose submit failed.
        record.started = try_started(context)
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
                    job,
                    origin=origin,
                    labels={"created-by": "airflow", **lineage_labels(context), **self.labels},
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

    def _run_started(self, context: Context) -> float:
        record = RunRecord.model_validate(context["task_state_store"].get(STATE_KEY) or {})
        return try_started(context) if record.started is None else record.started

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
