"""The task's result from a finished wait: the run's outputs within ``max_output_bytes``, or the error that says
how the run ended, with the tail of its remote logs."""

from __future__ import annotations

import json
from typing import Any

from airflow_remote_tasks.core.errors import OutputsTooLargeError, RemoteRunError, RemoteTaskError, clip
from airflow_remote_tasks.core.models import RunRef, RunStatus
from airflow_remote_tasks.core.phases import Phase


def timed_out(ref: RunRef, timeout: float | None, stopped: bool, platform_name: str) -> RemoteRunError:
    """The error of a run that outlived the operator's ``timeout``; ``stopped`` says whether the abort took."""
    fate = "it was aborted" if stopped else f"{platform_name} cannot stop this kind of run, so it goes on"
    return RemoteRunError(
        f"Run {ref.run_id} did not finish within the operator's timeout of {timeout}s; {fate}. "
        f"{ref.url}".rstrip(),
        phase=Phase.ABORTED.value if stopped else "",
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
