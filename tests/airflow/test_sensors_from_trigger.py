"""Sensors with static arguments start in the triggerer: the scheduler defers them from their
``start_trigger_args`` (Airflow's own ``TaskInstance.defer_task`` here), and the trigger, made from the row's
kwargs as the triggerer makes it, finds the run itself. Templated arguments defer from the worker. Deferred
either way, the wait ends at the first of ``timeout`` and ``execution_timeout``, and the sensor names it."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from airflow.sdk import DAG, task
from airflow.sdk.exceptions import AirflowSensorTimeout, AirflowTaskTimeout

from airflow_remote_tasks import RemoteRunSensor, RemoteRunsSensor
from airflow_remote_tasks.core.errors import PermanentError
from airflow_remote_tasks.core.transport import close_shared_clients
from airflow_remote_tasks.links.remote_run import RUN_URL_KEY
from airflow_remote_tasks.triggers.remote_run import RemoteRunTrigger
from airflow_remote_tasks.triggers.remote_runs import RemoteRunsTrigger
from support import start_run

pytestmark = [pytest.mark.airflow, pytest.mark.usefixtures("airflow_db")]

START = datetime(2026, 1, 1)


def parsed(*sensors: Any) -> dict[str, Any]:
    """The sensors as the scheduler sees them: their DAG serialized and read back."""
    from airflow.serialization.serialized_objects import DagSerialization

    with DAG("from_trigger", start_date=START, schedule=None) as dag:
        for sensor in sensors:
            dag.add_task(sensor)
    back = DagSerialization.from_dict(DagSerialization.to_dict(dag))
    return {sensor.task_id: back.get_task(sensor.task_id) for sensor in sensors}


def deferred_by_scheduler(operator: Any) -> tuple[Any, Any]:
    """What Airflow's scheduler does with a task that starts in the triggerer (``TaskInstance.defer_task``),
    and what the triggerer makes of the Trigger row: the task instance, and the trigger built from the row's
    kwargs with its task instance's trigger timeout (``timeout_after``)."""
    from airflow._shared.module_loading import import_string
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.trigger import Trigger
    from airflow.serialization.decoders import smart_decode_trigger_kwargs
    from airflow.utils.session import create_session

    ti = TaskInstance(task=operator, run_id="manual__1", dag_version_id=uuid.uuid4())
    with create_session() as session:
        assert ti.defer_task(session=session)
        row = session.get(Trigger, ti.trigger_id)
        kwargs = {
            k: smart_decode_trigger_kwargs(v)
            for k, v in Trigger._decrypt_kwargs(row.encrypted_kwargs).items()
        }
        classpath = row.classpath
        session.rollback()  # nothing of this test stays in the database
    trigger = import_string(classpath)(**kwargs)
    trigger.timeout_after = ti.trigger_timeout
    return ti, trigger


async def events_of(trigger: Any) -> list[dict[str, Any]]:
    events = [event.payload async for event in trigger.run()]
    await close_shared_clients()
    return events


class PushedXCom:
    """The worker's task instance, as far as ``execute_complete`` uses it: what it pushes to XCom."""

    def __init__(self) -> None:
        self.pushed: dict[str, Any] = {}
        self.start_date: datetime | None = None

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value


# -- which sensors start in the triggerer ----------------------------------------------------------------


def test_static_arguments_start_in_the_triggerer_templated_ones_in_the_worker():
    @task
    def make_id() -> str:
        return "r0"

    with DAG("which", start_date=START, schedule=None):
        static = RemoteRunSensor(task_id="static", conn_id="flyte_default", run_id="r0abc", deferrable=True)
        jinja = RemoteRunSensor(
            task_id="jinja", conn_id="flyte_default", run_id="{{ params.id }}", deferrable=True
        )
        xcom = RemoteRunSensor(task_id="xcom", conn_id="flyte_default", run_id=make_id(), deferrable=True)
        poking = RemoteRunSensor(task_id="poking", conn_id="flyte_default", run_id="r0abc", deferrable=False)
        refused = RemoteRunSensor(
            task_id="refused",
            conn_id="flyte_default",
            run_id="r0abc",
            deferrable=True,
            start_from_trigger=False,
        )
        set_static = RemoteRunsSensor(
            task_id="set_static", conn_id="flyte_default", select={"labels": {"a": "b"}}, deferrable=True
        )
        set_jinja = RemoteRunsSensor(
            task_id="set_jinja",
            conn_id="flyte_default",
            select={"labels": {"a": "{{ ds }}"}},
            deferrable=True,
        )
    assert static.start_from_trigger and set_static.start_from_trigger
    for sensor in (jinja, xcom, poking, refused, set_jinja):
        assert not sensor.start_from_trigger and sensor.start_trigger_args is None, sensor.task_id

    args = static.start_trigger_args
    assert args.trigger_cls == "airflow_remote_tasks.triggers.remote_run.RemoteRunTrigger"
    assert args.next_method == "execute_complete" and args.timeout == timedelta(seconds=static.timeout)
    # plain JSON: the connection id and the run id, no platform (no connection is read when a DAG is parsed)
    assert args.trigger_kwargs["run_id"] == "r0abc" and args.trigger_kwargs["platform"] is None
    assert args.trigger_kwargs["deadline_from_task"] is True and args.trigger_kwargs["deadline"] is None
    assert "ref" not in args.trigger_kwargs
    assert set_static.start_trigger_args.trigger_kwargs["selector"] == {"labels": {"a": "b"}}

    # what the scheduler reads: the DAG as serialized
    seen = parsed(RemoteRunSensor(task_id="s", conn_id="c", run_id="r0", deferrable=True))["s"]
    assert seen.start_from_trigger and seen.start_trigger_args.trigger_cls == args.trigger_cls


# -- the wait started from the row's kwargs --------------------------------------------------------------


def test_a_sensor_started_by_the_scheduler_finds_its_run_and_waits(flyte):
    _, ref = start_run("demo.say_hello", {"name": "from the triggerer"}, "from-trigger")
    sensor = RemoteRunSensor(
        task_id="wait", conn_id="flyte_default", run_id=ref.run_id, deferrable=True, poke_interval=0.1
    )
    _, trigger = deferred_by_scheduler(parsed(sensor)["wait"])
    assert trigger.ref is None  # nothing was looked up before the triggerer
    [event] = asyncio.run(events_of(trigger))
    assert event["outcome"] == "reached" and event["ref"]["run_id"] == ref.run_id

    ti = PushedXCom()
    result = sensor.execute_complete({"ti": ti}, event)  # the worker's one step: the link and the XCom
    assert result["run_id"] == ref.run_id and result["phase"] == "succeeded"
    assert result["outputs"] == "Hello, from the triggerer!"
    assert ti.pushed == {RUN_URL_KEY: ref.url} and ref.url


def test_a_set_sensor_started_by_the_scheduler_checks_its_selector_and_waits(flyte):
    for n in range(2):
        start_run("demo.say_hello", {"name": f"set {n}"}, f"set-{n}")
    sensor = RemoteRunsSensor(
        task_id="all",
        conn_id="flyte_default",
        select={"task_name": "demo.say_hello"},
        min_count=2,
        deferrable=True,
        poke_interval=0.1,
    )
    _, trigger = deferred_by_scheduler(parsed(sensor)["all"])
    assert isinstance(trigger, RemoteRunsTrigger) and trigger.platform is None
    [event] = asyncio.run(events_of(trigger))
    assert sensor.execute_complete({}, event)["counts"] == {"succeeded": 2}

    wrong = RemoteRunsSensor(
        task_id="wrong", conn_id="flyte_default", select={"colour": "red"}, deferrable=True
    )
    _, trigger = deferred_by_scheduler(parsed(wrong)["wrong"])
    [event] = asyncio.run(events_of(trigger))
    with pytest.raises(PermanentError, match="colour"):
        wrong.execute_complete({}, event)


def test_a_run_id_refused_in_the_triggerer_fails_the_sensor_naming_it(flyte):
    sensor = RemoteRunSensor(task_id="bad", conn_id="flyte_default", run_id="not/a run", deferrable=True)
    _, trigger = deferred_by_scheduler(parsed(sensor)["bad"])
    [event] = asyncio.run(events_of(trigger))
    assert event["outcome"] == "error" and event["permanent"] and "ref" not in event
    ti = PushedXCom()
    with pytest.raises(PermanentError, match="run_id"):
        sensor.execute_complete({"ti": ti}, event)
    assert ti.pushed == {}  # no run, no link
    assert flyte.emulator.app.calls["/flyteidl2.workflow.RunService/GetRunDetails"] == 0  # nothing was sent


def test_a_trigger_row_written_before_start_from_trigger_still_runs(flyte):
    """The kwargs a deferral from the worker wrote before this version (a found ``ref``, an instant)."""
    _, ref = start_run("demo.say_hello", {"name": "old"}, "old-row")
    old_row = {
        "conn_id": "flyte_default",
        "ref": ref.to_json(),
        "poll_interval": 0.1,
        "deadline": None,
        "target_phases": ["succeeded"],
        "transient_error_budget": 600.0,
        "abort_on_kill": False,
        "outcome_output_bytes": 65536,
    }
    trigger = RemoteRunTrigger(**old_row)
    assert trigger.serialize()[1] == old_row  # and it writes the same row again
    [event] = asyncio.run(events_of(trigger))
    assert event["outcome"] == "reached" and event["result"]["outputs"] == "Hello, old!"
    old_set_row = {
        "conn_id": "flyte_default",
        "platform": "flyte",
        "selector": {"task_name": "demo.say_hello"},
        "target_phases": ["succeeded"],
        "min_count": 1,
        "fail_on_failure": True,
        "poll_interval": 0.1,
        "deadline": None,
        "transient_error_budget": 600.0,
    }
    trigger = RemoteRunsTrigger(**old_set_row)
    assert trigger.serialize()[1] == old_set_row
    [event] = asyncio.run(events_of(trigger))
    assert event["counts"] == {"succeeded": 1}


# -- the deadline ------------------------------------------------------------------------------------------


def test_execution_timeout_ends_a_wait_started_in_the_triggerer_and_is_named(flyte):
    _, ref = start_run("demo.sleep", {"seconds": 60}, "too-long")
    sensor = RemoteRunSensor(
        task_id="late",
        conn_id="flyte_default",
        run_id=ref.run_id,
        deferrable=True,
        poke_interval=0.2,
        timeout=3600,
        execution_timeout=timedelta(seconds=1),
    )
    ti, trigger = deferred_by_scheduler(parsed(sensor)["late"])
    # Airflow's scheduler sets the deadline, kept in its database: the start plus the first limit
    assert ti.trigger_timeout - ti.start_date == timedelta(seconds=1)
    [event] = asyncio.run(events_of(trigger))
    assert event["outcome"] == "timeout" and event["ref"]["run_id"] == ref.run_id
    with pytest.raises(AirflowTaskTimeout) as failed:
        sensor.execute_complete({"ti": PushedXCom()}, event)
    assert str(failed.value) == (
        f"Run {ref.run_id} did not reach succeeded within the sensor's execution_timeout of 0:00:01, counted "
        f"from the task's start. The sensor stopped nothing. {ref.url}"
    )
    assert flyte.runs[0]["phase"] == "ACTION_PHASE_RUNNING"  # a sensor never aborts


def test_airflows_own_trigger_timeout_fails_the_sensor_naming_its_limit(flyte):
    """The scheduler's check of the trigger timeout may come before the trigger's event: Airflow resumes the
    task with ``__fail__`` ("Trigger timeout"), and the sensor still says which of its limits passed."""
    one = RemoteRunSensor(task_id="one", conn_id="flyte_default", run_id="r0abc", deferrable=True, timeout=90)
    with pytest.raises(
        AirflowSensorTimeout,
        match=r"^Run r0abc did not reach succeeded within the sensor's "
        r"timeout of 0:01:30, counted from the task's start\. The sensor stopped nothing\.$",
    ):
        one.resume_execution("__fail__", {"error": "Trigger timeout"}, {})
    many = RemoteRunsSensor(
        task_id="many",
        conn_id="flyte_default",
        select={"task_name": "demo.sleep"},
        deferrable=True,
        execution_timeout=timedelta(minutes=5),
    )
    with pytest.raises(
        AirflowTaskTimeout,
        match="did not all reach succeeded within the sensor's execution_timeout of 0:05:00",
    ):
        many.resume_execution("__fail__", {"error": "Trigger timeout"}, {})
    soft = RemoteRunSensor(
        task_id="soft", conn_id="c", run_id="r0abc", deferrable=True, soft_fail=True, timeout=9
    )
    from airflow.sdk.exceptions import AirflowSkipException

    with pytest.raises(AirflowSkipException):  # soft_fail holds as for Airflow's own sensor timeout
        soft.resume_execution("__fail__", {"error": "Trigger timeout"}, {})


def test_execution_timeout_ends_a_wait_deferred_from_the_worker(flyte):
    """A templated run id defers from the worker: execution_timeout is part of its trigger's deadline there
    too (before, the deferred sensor waited past it until the run ended), counted from the task's start."""
    from airflow.sdk.exceptions import TaskDeferred

    _, ref = start_run("demo.sleep", {"seconds": 30}, "worker-late")
    sensor = RemoteRunSensor(
        task_id="late",
        conn_id="flyte_default",
        run_id="{{ params.id }}",
        deferrable=True,
        poke_interval=0.2,
        execution_timeout=timedelta(seconds=2),
    )
    assert not sensor.start_from_trigger
    sensor.run_id = ref.run_id  # as the worker rendered it
    ti = PushedXCom()
    ti.start_date = datetime.now(timezone.utc) - timedelta(seconds=1)  # the task started a second ago
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({"ti": ti})
    assert deferred.value.timeout is None  # no Airflow trigger timeout: the trigger's own deadline
    _, kwargs = deferred.value.trigger.serialize()
    assert kwargs["deadline"] == pytest.approx(ti.start_date.timestamp() + 2)
    assert "deadline_from_task" not in kwargs  # what an older triggerer knows
    started = time.monotonic()
    [event] = asyncio.run(events_of(RemoteRunTrigger(**kwargs)))
    assert event["outcome"] == "timeout" and time.monotonic() - started < 5
    with pytest.raises(AirflowTaskTimeout, match="within the sensor's execution_timeout of 0:00:02"):
        sensor.execute_complete({"ti": ti}, event)
    assert flyte.runs[0]["phase"] == "ACTION_PHASE_RUNNING"  # ended before the run, which goes on
