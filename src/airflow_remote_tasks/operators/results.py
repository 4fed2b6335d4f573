"""The task's result from a finished wait: the run's outputs within ``max_output_bytes``, or the error that says
how the run ended, with the tail of its remote logs."""

from __future__ import annotations

import json
from typing import Any, Literal

from airflow.sdk.exceptions import AirflowTaskTimeout

from airflow_remote_tasks.core.errors import OutputsTooLargeError, RemoteRunError, RemoteTaskError, clip
from airflow_remote_tasks.core.models import RunRef, RunStatus
from airflow_remote_tasks.core.phases import Phase

# The limits a wait is held to: the operator's own, and the task's (BaseOperator's execution_timeout).
Limit = Literal["timeout", "execution_timeout"]


class ExecutionTimeoutError(RemoteRunError, AirflowTaskTimeout):
    """The run outlived the task's ``execution_timeout``: an ``AirflowTaskTimeout`` as well, so the failure is
    Airflow's own timeout to callbacks and retries alike."""


def limit_words(limit: Limit, seconds: float | None) -> str:
    """The limit as the abort's reason and the error name it."""
    owner = "the task's" if limit == "execution_timeout" else "the operator's"
    return f"{owner} {limit} of {seconds}s"


def timed_out(
    ref: RunRef, limit: Limit, seconds: float | None, stopped: bool | RemoteTaskError, platform_name: str
) -> RemoteRunError:
    """The error of a run that outlived ``limit`` (``seconds`` long); ``stopped`` says whether the abort took,
    or is the error that asking for it raised."""
    if isinstance(stopped, RemoteTaskError):
        fate = f"asking {platform_name} to abort it failed, so it may still be going ({str(stopped).rstrip('.')})"
    elif stopped:
        fate = "it was aborted"
    else:
        fate = f"{platform_name} cannot stop this kind of run, so it goes on"
    error = ExecutionTimeoutError if limit == "execution_timeout" else RemoteRunError
    return error(
        f"Run {ref.run_id} did not finish within {limit_words(limit, seconds)}; {fate}. {ref.url}".rstrip(),
        phase=Phase.ABORTED.value if stopped is True else "",
        url=ref.url,
    )


def ended_unsuccessfully(ref: RunRef, status: RunStatus) -> RemoteRunError:
    """The error of a run that ended in a phase other than success, with the platform's own words."""
    kind = f" [{status.error_kind or status.error_code}]" if (status.error_kind or status.error_code) else ""
    return RemoteRunError(
        f"Run {ref.run_id} ended {status.phase.value} ({status.raw_phase}){kind}: "
        f"{status.message or 'no error message was reported'}. {ref.url}".rstrip(),
        phase=status.phase.value,
        kind=status.error_kind,
        url=ref.url,
    )


def paused_refused(ref: RunRef, status: RunStatus) -> RemoteRunError:
    """The error of a run that waits for input when ``on_paused='fail'``: the run is left waiting."""
    return RemoteRunError(
        f"Run {ref.run_id} is {status.describe()}, and on_paused='fail'. It was left waiting: resume "
        f"it (ResumeRunOperator) or cancel it, or set on_paused='wait'. {ref.url}".rstrip(),
        phase=status.phase.value,
        url=ref.url,
    )


def check_size(ref: RunRef, value: Any, max_output_bytes: int) -> None:
    """:raises OutputsTooLargeError: ``value`` as JSON is over ``max_output_bytes``; nothing reached XCom."""
    size = len(json.dumps(value, default=str).encode())
    if size > max_output_bytes:
        raise OutputsTooLargeError(
            f"Run {ref.run_id} succeeded but its outputs are {size:,} bytes, over max_output_bytes="
            f"{max_output_bytes:,}; they were not written to XCom. Have the task write large results "
            f"to storage and return their URI, or raise max_output_bytes. {ref.url}".rstrip()
        )


def copy_logs(hook: Any, logger: Any, ref: RunRef, status: RunStatus, lines: int) -> None:
    """Copy the last ``lines`` lines of the run's remote logs into the task log. Raises nothing: logs are never
    worth a failure, so an error reading them is logged as a warning."""
    if lines <= 0:
        return
    try:
        tail = hook.run(hook.platform.logs(ref, status, lines))
    except RemoteTaskError as error:
        logger.warning("Could not read the remote logs of run %s: %s", ref.run_id, error)
        return
    if tail:
        text = "\n".join(clip(line) for line in tail)
        logger.info("Last %d log lines of run %s:\n%s", len(tail), ref.run_id, text)
