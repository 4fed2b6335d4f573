"""Julep executions: created once per try (found again by a key in their metadata), read, cancelled, resumed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_remote_tasks.core.create_once import create_once
from airflow_remote_tasks.core.errors import ApiError, InvalidInputsError, NotFoundError
from airflow_remote_tasks.core.models import RunOrigin, RunRef, RunStatus, TaskInterface
from airflow_remote_tasks.core.operation import Operation
from airflow_remote_tasks.core.phases import Phase, phase_of_word
from airflow_remote_tasks.platforms.julep import PLATFORM, rest
from airflow_remote_tasks.platforms.julep.config import JulepConfig
from airflow_remote_tasks.platforms.julep.transitions import summarize

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
# The metadata entry holding a try's key: how a lookup finds the execution that try started.
RUN_KEY = "airflow_run_key"


def ref_of(config: JulepConfig, execution: Mapping[str, Any]) -> RunRef:
    execution_id, task_id = str(execution["id"]), str(execution.get("task_id", ""))
    return RunRef(
        platform=PLATFORM.name,
        run_id=execution_id,
        scope={"task_id": task_id},
        url=config.execution_url(execution_id, task_id),
    )


def create(
    config: JulepConfig,
    interface: TaskInterface,
    execution_input: dict[str, Any],
    *,
    origin: RunOrigin,
    labels: Mapping[str, str],
) -> Operation[RunRef]:
    """The execution of this try (``origin``): an unfinished one its key finds, or a new one.

    :raises InvalidInputsError: Julep refused the input (HTTP 400); nothing was started.
    :raises RemoteTaskError: what the lookup or the last create raised.
    """
    task_id = interface.wire["task_id"]
    key = origin.run_name
    metadata = {
        **labels,
        "airflow_dag_id": origin.dag_id,
        "airflow_run_id": origin.run_id,
        "airflow_task_id": origin.task_id,
        "airflow_map_index": origin.map_index,
        RUN_KEY: key,
    }

    def find() -> Operation[RunRef | None]:
        found = yield from _find_by_key(config, task_id, key)
        return None if found is None else ref_of(config, found)

    def send() -> Operation[RunRef]:
        try:
            created = yield from rest.call(
                config,
                "POST",
                f"tasks/{rest.segment(task_id, 'task_id')}/executions",
                body={"input": execution_input, "metadata": metadata},
                idempotent=False,
            )
        except ApiError as error:
            if error.status == 400:
                raise InvalidInputsError(
                    f"Julep refused the execution of task {interface.task!r}: {error}. Nothing was started.\n"
                    f"Expected inputs:\n{interface.describe_inputs()}"
                ) from error
            raise
        return ref_of(config, created)

    # Julep has no idempotency key: every create is preceded by a lookup of the key in metadata, and a
    # transient failure (the execution may or may not exist) by another.
    return (yield from create_once(find, send))


def _find_by_key(config: JulepConfig, task_id: str, key: str) -> Operation[dict[str, Any] | None]:
    # A failed or cancelled one is not reused: that try's run is over, start another.
    return (
        yield from rest.find_item(
            config,
            f"tasks/{rest.segment(task_id, 'task_id')}/executions",
            lambda item: (
                (item.get("metadata") or {}).get(RUN_KEY) == key
                and item.get("status") not in ("failed", "cancelled")
            ),
            max_pages=5,
        )
    )


def execution(config: JulepConfig, execution_id: str) -> Operation[dict[str, Any]]:
    """:raises ConfigurationError: ``execution_id`` is no execution UUID. :raises NotFoundError: no such
    execution at the connection's base URL."""
    execution_id = PLATFORM.check_run_id(execution_id)
    try:
        body = yield from rest.call(config, "GET", rest.execution_path(execution_id))
    except NotFoundError:
        raise NotFoundError(
            f"No Julep execution with id {execution_id!r} at {config.base_url}.",
            status=404,
            code="not_found",
        ) from None
    return dict(body)


def status_of(body: Mapping[str, Any]) -> RunStatus:
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


def cancel(config: JulepConfig, ref: RunRef, reason: str) -> Operation[bool]:
    """Ask for the execution to be cancelled; one that is gone or has ended is left alone. Always True."""
    try:
        body = yield from execution(config, ref.run_id)
    except NotFoundError:
        return True
    if body.get("status") in ENDED:
        return True
    # The status turns "cancelled" later, when the workflow records it; status polls show it.
    yield from rest.call(
        config, "PUT", rest.execution_path(ref.run_id), body={"status": "cancelled", "reason": reason}
    )
    return True


def resume(config: JulepConfig, ref: RunRef, inputs: Mapping[str, Any]) -> Operation[None]:
    """Resume the execution while it waits for input; safe to repeat. Julep has no idempotency key, so the
    execution's state is read before every send: one that no longer waits was resumed (by a send whose
    answer was lost, or by someone else) and is not resumed again. A wait step takes one input, so a
    resend that crosses a slow status change cannot give it a second one.

    This is :func:`create_once`'s lookup before each send: a lookup that finds the execution no longer waiting
    "attaches" (nothing more to do).

    :raises NotFoundError: no such execution. :raises RemoteTaskError: what the last send raised."""

    def resumed() -> Operation[bool | None]:
        body = yield from execution(config, ref.run_id)
        return None if body.get("status") == "awaiting_input" else True

    def send() -> Operation[bool]:
        # "status" must be explicit: the server's default for this body is "running" for any shape.
        yield from rest.call(
            config,
            "PUT",
            rest.execution_path(ref.run_id),
            body={"status": "running", "input": dict(inputs)},
            idempotent=False,
        )
        return True

    yield from create_once(resumed, send)
    return None
