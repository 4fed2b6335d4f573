"""What a sensor hands XCom about the run it waited on: the same dict in the worker and in the triggerer."""

from __future__ import annotations

import json
from typing import Any

from airflow_remote_tasks.core import arguments
from airflow_remote_tasks.core.errors import ConfigurationError, RemoteTaskError
from airflow_remote_tasks.core.models import RunRef, RunStatus, StreamedOutput
from airflow_remote_tasks.core.phases import Phase
from airflow_remote_tasks.core.platform import Platform
from airflow_remote_tasks.core.steps import Procedure

# Kept small by default: the outcome travels in a trigger event (stored in Airflow's database) before XCom.
MAX_OUTCOME_OUTPUT_BYTES = 64 * 1024
# The most a sensor may be told to hand over: the outcome is written to Airflow's metadata database twice,
# in the deferred task's next_kwargs (the trigger event, loaded with the task instance) and in XCom.
OUTCOME_OUTPUT_BYTES_CAP = 1024 * 1024
# Where a run's outputs go in the outcome, by phase: a run in any other phase has none to read.
OUTPUT_KEYS = {Phase.SUCCEEDED: "outputs", Phase.PAUSED: "waiting_for"}


def output_bytes(name: str, value: Any) -> int:
    """How many bytes of outputs (JSON) a sensor hands XCom at most, as argument ``name`` gave it.

    :raises ConfigurationError: naming ``name`` when ``value`` is not a whole number from 0 up to
        ``OUTCOME_OUTPUT_BYTES_CAP`` (1 MiB).
    """
    limit = arguments.count(name, value)
    if limit > OUTCOME_OUTPUT_BYTES_CAP:
        raise ConfigurationError(
            f"{name} must be at most {OUTCOME_OUTPUT_BYTES_CAP:,} bytes (1 MiB), not {limit:,}: the outcome is "
            f"kept in Airflow's database (in the trigger event and in XCom). Outputs over {name} are left out "
            f"of the outcome, with a note that says so."
        )
    return limit


def run_outcome(
    platform: Platform, ref: RunRef, status: RunStatus, max_output_bytes: int
) -> Procedure[dict[str, Any]]:
    """The run's id, phase (ours and the platform's word), link, and, where cheap to read, its outputs: what
    a succeeded run returned (``outputs``) or what a paused one waits for (``waiting_for``), as the platform's
    ``outputs`` answers them. Outputs that are a stream of bytes (an export) are not read: ``streamed`` gives
    their format and sizes, and ``outputs_note`` where to find them. Outputs over ``max_output_bytes`` (JSON)
    or that could not be read are left out, ``outputs_note`` saying why: the run reached what was waited for,
    so this never fails the sensor. Plain JSON; no credential. Raises nothing from the platform."""
    outcome: dict[str, Any] = {
        "run_id": ref.run_id,
        "phase": status.phase.value,
        "raw_phase": status.raw_phase,
        "url": ref.url,
    }
    key = OUTPUT_KEYS.get(status.phase)
    if key is None:
        return outcome
    try:
        value = yield platform.outputs(ref)
    except RemoteTaskError as error:
        return {**outcome, key: None, "outputs_note": f"The outputs could not be read: {error}"}
    if isinstance(value, StreamedOutput):
        where = f": open the run's page, {ref.url}" if ref.url else ""
        return {
            **outcome,
            key: None,
            "streamed": {"format": value.format, "sizes": value.sizes},
            "outputs_note": f"The outputs are a stream of bytes, not read by the sensor{where}.",
        }
    text = json.dumps(value, default=str)
    if len(text.encode()) > max_output_bytes:
        return {
            **outcome,
            key: None,
            "outputs_note": (
                f"The outputs are {len(text.encode()):,} bytes of JSON, over max_output_bytes="
                f"{max_output_bytes:,}; they were not handed to XCom."
            ),
        }
    # Through JSON, so that XCom holds the same value whether the worker or the triggerer read it.
    return {**outcome, key: json.loads(text)}
