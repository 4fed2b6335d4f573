"""Where a sensor's wait in the triggerer starts, and when it ends: at the sensor's own limits.

A sensor whose arguments are static starts in the triggerer (``start_from_trigger``): Airflow's scheduler
defers it from :func:`start_trigger_args`, with no worker process, and its trigger finds the run itself.
A templated argument (a Jinja string, an XComArg) is known only when the task runs, so such a sensor
defers from the worker, as before.

Both limits, ``timeout`` and ``execution_timeout``, count from the task's start, and the first to pass ends
the wait. Airflow 3.3 applies ``execution_timeout`` only around ``execute()`` in the worker, so a deferred
sensor would wait past it: here it is part of the trigger's deadline. A sensor deferred from the worker
puts the deadline in its trigger's arguments, as an instant, so a restarted triggerer keeps it. One
started in the triggerer has no worker step to compute an instant in: its trigger's deadline is the task
instance's trigger timeout, which the scheduler sets when it defers the task (its start plus the smaller
of ``StartTriggerArgs.timeout``, here the sensor's ``timeout``, and ``execution_timeout``) and keeps in its
database. When the scheduler's own check of that timeout (every 15 s by default) comes before the
trigger's event, Airflow resumes the task only to fail it with "Trigger timeout"; the sensor then says
which of its limits passed instead (:func:`resumed`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from airflow.sdk import BaseSensorOperator, Context
from airflow.sdk.bases.operator import TRIGGER_FAIL_REPR, TriggerFailureReason
from airflow.sdk.exceptions import AirflowSensorTimeout, AirflowTaskTimeout
from airflow.triggers.base import BaseTrigger, StartTriggerArgs

from airflow_remote_tasks.core.arguments import filled_at_run_time

# What a sensor resumed by Airflow's own trigger timeout runs instead of failing with "Trigger timeout".
TIMED_OUT_METHOD = "trigger_timed_out"


def holds_template(value: Any) -> bool:
    """Whether ``value``, or anything in it (Airflow renders the strings inside dicts and lists too), is
    filled in only when the task runs (:func:`core.arguments.filled_at_run_time`)."""
    if filled_at_run_time(value):
        return True
    if isinstance(value, Mapping):
        return any(holds_template(k) or holds_template(v) for k, v in value.items())
    if isinstance(value, list | tuple | set | frozenset):
        return any(holds_template(item) for item in value)
    return False


def start_trigger_args(sensor: BaseSensorOperator, trigger: BaseTrigger) -> StartTriggerArgs:
    """What the scheduler defers ``sensor`` with when it starts in the triggerer: ``trigger``'s arguments
    (made with ``deadline_from_task``), and the sensor's ``timeout`` as Airflow's trigger timeout, which is
    where the trigger's deadline comes from."""
    classpath, kwargs = trigger.serialize()
    return StartTriggerArgs(
        trigger_cls=classpath,
        trigger_kwargs=kwargs,
        next_method="execute_complete",
        next_kwargs=None,
        timeout=timedelta(seconds=sensor.timeout) if sensor.timeout else None,
    )


def first_limit(sensor: BaseSensorOperator) -> tuple[str, float] | None:
    """The sensor's limit that passes first (its name and seconds), both counted from the task's start;
    ``timeout`` on a tie. None when it has neither."""
    limits = []
    if sensor.timeout:
        limits.append(("timeout", float(sensor.timeout)))
    if sensor.execution_timeout:
        limits.append(("execution_timeout", sensor.execution_timeout.total_seconds()))
    return min(limits, key=lambda limit: limit[1], default=None)


def deadline(sensor: BaseSensorOperator, context: Context) -> float | None:
    """The instant (epoch seconds) a sensor deferring from the worker stops waiting: the task's start plus
    its first limit."""
    limit = first_limit(sensor)
    if limit is None:
        return None
    start = context["ti"].start_date
    return (start.timestamp() if start is not None else time.time()) + limit[1]


def timed_out(sensor: BaseSensorOperator, what: str, url: str = "") -> BaseException:
    """The failure of a wait that ``what`` ("Run x did not reach succeeded") within its first limit, naming
    it, and where to look (``url``). ``timeout`` fails as Airflow fails a sensor that timed out (no retries;
    ``soft_fail`` skips), ``execution_timeout`` as Airflow fails a task that ran past it (retries apply)."""
    limit = first_limit(sensor)
    after = f" The sensor stopped nothing.{' ' + url if url else ''}"
    if limit is None:  # only a trigger made by an earlier version of the sensor times out without a limit
        return AirflowSensorTimeout(f"{what} in time.{after}")
    name, seconds = limit
    message = (
        f"{what} within the sensor's {name} of {timedelta(seconds=seconds)}, counted from the task's "
        f"start.{after}"
    )
    return AirflowSensorTimeout(message) if name == "timeout" else AirflowTaskTimeout(message)


def resumed(next_method: str, next_kwargs: dict[str, Any] | None) -> tuple[str, dict[str, Any] | None]:
    """What a sensor resumed by Airflow runs: :data:`TIMED_OUT_METHOD` for the scheduler's "Trigger
    timeout", so the sensor names its limit; anything else as Airflow asked."""
    if next_method == TRIGGER_FAIL_REPR and (next_kwargs or {}).get("error") == (
        TriggerFailureReason.TRIGGER_TIMEOUT
    ):
        return TIMED_OUT_METHOD, {}
    return next_method, next_kwargs
