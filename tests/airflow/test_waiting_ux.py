"""What a person sees while a sensor waits: a progress line when it changes (in every mode, the same line),
the run's outcome in XCom, and a set wait that names what it cannot list, the runs that left it and the
status words nobody mapped."""

from __future__ import annotations

import base64
import json
import re
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from airflow_helpers import DAGS, DagResult, run_dag
from airflow_remote_tasks.core.models import RunOrigin
from airflow_remote_tasks.core.secrets import derived_forms
from airflow_remote_tasks.platforms.flyte.hook import FlyteHook
from support import text_of

sys.path.insert(0, str(DAGS))
from waiting_test_dags import ALL_DAGS

pytestmark = [pytest.mark.airflow, pytest.mark.usefixtures("airflow_db")]


def run(dag_id: str, **conf: Any) -> DagResult:
    return DagResult(ALL_DAGS[dag_id].test(run_conf=conf or None))


def started_run(task_name: str, inputs: dict[str, Any], key: str) -> str:
    hook = FlyteHook("flyte_default")
    platform = hook.platform
    interface = hook.run(platform.resolve_task(task_name, "latest"))
    wire = platform.prepare_inputs(interface, inputs)
    origin = RunOrigin(dag_id="elsewhere", run_id="r", task_id=key)
    return hook.run(platform.submit(interface, wire, origin=origin, labels={}, env={})).run_id


def in_steps(app: Any, paths: tuple[str, ...], *steps: tuple[int, Callable[[], None]]) -> threading.Thread:
    """Do each action once the emulator has answered that many more calls to ``paths``, in order."""
    start = sum(app.calls.get(p, 0) for p in paths)

    def watch() -> None:
        deadline = time.time() + 60
        for count, action in steps:
            while sum(app.calls.get(p, 0) for p in paths) - start < count and time.time() < deadline:
                time.sleep(0.02)
            action()

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


FLYTE_READS = ("/flyteidl2.workflow.RunService/GetRunDetails", "/flyteidl2.workflow.RunService/ListRuns")


def end_flyte_run_after_reads(flyte: Any, run_id: str, reads: int) -> threading.Thread:
    """Let the run (a long demo.sleep) succeed once it was read ``reads`` times: a few polls see it running."""
    run = next(r for r in flyte.emulator.state.runs.values() if r.name == run_id)

    def end() -> None:
        run.run_seconds = time.time() - run.created - run.queue_seconds

    return in_steps(flyte.emulator.app, FLYTE_READS, (reads, end))


# -- 1. a progress line only when it changes ---------------------------------------------------------------


@pytest.mark.parametrize("mode", ["poke", "reschedule"])
def test_a_poking_sensor_logs_a_progress_line_only_when_it_changes(flyte, capfd, mode):
    run_id = started_run("demo.sleep", {"seconds": 600.0}, f"slow-{mode}")
    end_flyte_run_after_reads(flyte, run_id, 6)
    result = run(f"w_flyte_{mode}", run=run_id)
    assert result.task_state("sensor") == "success"
    text = text_of(capfd)
    assert text.count(f"Run {run_id} is running (ACTION_PHASE_RUNNING)") == 1
    assert text.count(f"Run {run_id} is succeeded (ACTION_PHASE_SUCCEEDED)") == 1


@pytest.mark.parametrize("mode", ["poke", "reschedule"])
def test_a_new_try_logs_its_progress_lines_afresh(flyte, capfd, mode):
    run_id = started_run("demo.sleep", {"seconds": 600.0}, f"retried-{mode}")
    remote = next(r for r in flyte.emulator.state.runs.values() if r.name == run_id)
    faults = flyte.emulator.app.faults

    # Every attempt of the next read fails, which uses up the try's budget of 0 s. That read is the next
    # poke's status read (two attempts); in reschedule mode, the next poke's look-up of the run (five).
    failing = {"poke": 2, "reschedule": 5}[mode]

    def fail_one_read() -> None:
        faults.update({"fail_method": "GetRunDetails", "fail_method_next": failing})

    def end() -> None:
        remote.run_seconds = time.time() - remote.created - remote.queue_seconds

    in_steps(flyte.emulator.app, FLYTE_READS, (2, fail_one_read), (2 + failing + 3, end))
    result = run(f"w_flyte_retry_{mode}", run=run_id)
    assert result.task_state("sensor") == "success" and result.try_number("sensor") == 2
    text = text_of(capfd)
    assert "used up transient_error_budget=0s" in text
    assert text.count(f"Run {run_id} is running (ACTION_PHASE_RUNNING)") == 2  # once in each try


# -- 2. the run's outcome in XCom --------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["poke", "reschedule", "deferred"])
def test_the_sensor_hands_the_runs_outcome_to_downstream_tasks(flyte, mode):
    run_id = started_run("demo.say_hello", {"name": "Ada", "n": 2}, f"hello-{mode}")
    result = run(f"w_flyte_{mode}", run=run_id)
    assert result.state == "success"
    outcome = result.xcom("sensor")
    assert outcome == {
        "run_id": run_id,
        "phase": "succeeded",
        "raw_phase": "ACTION_PHASE_SUCCEEDED",
        "url": result.xcom("sensor", "run_url"),
        "outputs": "Hello, Ada! Hello, Ada!",
    }
    assert outcome["url"].endswith(f"/runs/{run_id}")
    assert result.xcom("downstream") == outcome  # what it waited on, for the tasks after it


@pytest.mark.parametrize("mode", ["poke", "deferred"])
def test_a_streamed_output_is_described_not_read(labelbox, mode):
    labelbox.emulator.state.task_seconds = 0.3
    rows = b"".join(b'{"data_row": {"id": "row-%d"}}\n' % i for i in range(20))
    export = labelbox.emulator.state.start_task("made in the app", "export-data-rows", {"RESULT": rows})
    result = run(f"w_labelbox_{mode}", run=export.id)
    outcome = result.xcom("sensor")
    assert outcome["phase"] == "succeeded" and outcome["outputs"] is None
    assert outcome["streamed"] == {"format": "ndjson", "sizes": {"result": len(rows), "errors": 0}}
    assert outcome["outputs_note"].startswith("The outputs are a stream of bytes, not read by the sensor")
    assert "row-1" not in repr(result.all_xcom_values())  # not its bytes


# -- 3. set waits --------------------------------------------------------------------------------------------

AVALA_LISTING = ("/api/v1/tasks/",)
SMALL = '{"project": "proj-002"}'  # how the set wait names Avala's small project's selector


@pytest.mark.parametrize("mode", ["poke", "reschedule", "deferred"])
def test_a_selector_naming_a_missing_project_fails_at_the_first_poll_naming_it(avala, capfd, mode):
    result = run(f"w_set_nope_{mode}")
    assert result.task_state("runs") == "failed"
    assert result.try_number("runs") == 1  # permanent: its retry was not used
    text = text_of(capfd)
    assert (
        'The runs of selector {"project": "proj-nope"} cannot be listed: avala answered that something'
        in text
    )
    assert text.count("No Avala project 'proj-nope'") >= 1
    assert "/api/v1/tasks/" not in avala.emulator.app.calls  # nothing was listed, nothing waited on


@pytest.mark.parametrize("mode", ["poke", "reschedule", "deferred"])
def test_runs_that_leave_the_set_are_logged_with_their_count(avala, capfd, mode):
    tasks = avala.emulator.state.tasks
    tasks["task-002-0001"]["status"] = "active"  # keeps the set waiting

    def leave() -> None:
        del tasks["task-002-0002"]

    def finish() -> None:
        tasks["task-002-0001"]["status"] = "completed"

    in_steps(avala.emulator.app, AVALA_LISTING, (3, leave), (6, finish))
    result = run(f"w_set_all_{mode}")
    assert result.task_state("runs") == "success"
    assert result.xcom("runs")["total"] == 2
    text = text_of(capfd)
    left = f"Runs of {SMALL}: 1 run(s) listed at the last poll are no longer selected (task-002-0002)"
    assert text.count(left) == 1


@pytest.mark.parametrize("mode", ["poke", "reschedule", "deferred"])
def test_an_unmapped_status_word_counts_as_unknown_and_is_named_once(avala, capfd, mode):
    tasks = avala.emulator.state.tasks
    tasks["task-002-0001"]["status"] = "on_hold"

    def finish() -> None:
        tasks["task-002-0001"]["status"] = "completed"

    in_steps(avala.emulator.app, AVALA_LISTING, (6, finish))
    result = run(f"w_set_all_{mode}")
    assert result.task_state("runs") == "success"
    text = text_of(capfd)
    assert text.count(f"Runs of {SMALL}: 2/3 succeeded, 1 unknown") == 1  # not "1 running", once
    assert text.count("the platform's status word 'on_hold' (1 run) is not in the provider's table") == 1
    assert text.count(f"Runs of {SMALL}: 3/3 succeeded") == 1


# -- 4. one formatter: the same lines in every mode ------------------------------------------------------------


def progress_lines(text: str, name: str) -> list[str]:
    """The progress lines about run (or selector) ``name``, as logged: a run's state, its steps, a set's counts."""
    lines = re.findall(r"\] (Runs? [^\n]*?" + re.escape(name) + r"[^\n]*?) +\[[\w.]+\]", text)
    assert lines, f"no progress line about {name} in {text}"
    return lines


def test_each_progress_line_reads_the_same_in_every_mode(julep, avala, capfd):
    run_id = run_dag("j_hello_worker").xcom("remote", "run_id")  # finished, with its steps recorded
    tasks = avala.emulator.state.tasks
    tasks["task-002-0001"]["status"] = "on_hold"
    tasks["task-002-0002"]["status"] = "active"
    text_of(capfd)
    lines: dict[str, list[str]] = {}
    for mode in ("poke", "reschedule", "deferred"):
        run(f"w_julep_{mode}", run=run_id)
        lines[mode] = progress_lines(text_of(capfd), run_id)
    assert lines["poke"] == lines["reschedule"] == lines["deferred"]
    assert lines["poke"][-1] == f"Run {run_id} is succeeded (succeeded)"
    assert len(lines["poke"]) > 1  # the execution's steps too, in every mode
    sets: dict[str, list[str]] = {}
    for mode in ("poke", "reschedule", "deferred"):
        run(f"w_set_held_{mode}")  # times out (softly): nothing changes
        sets[mode] = progress_lines(text_of(capfd), "proj-002")
    assert sets["poke"] == sets["reschedule"] == sets["deferred"]


@pytest.fixture
def deferrals(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any], dict[str, Any] | None]]:
    """What each deferral of a ``dag.test()`` hands the triggerer: the trigger's classpath and kwargs (what
    a Trigger row holds) and its event's payload (what the task's next_kwargs hold). dag.test() writes no
    Trigger row: it rebuilds the trigger from the deferral's classpath and kwargs and runs it in line, as a
    triggerer does (``trigger.run()``, up to its first event), so each is caught in its own ``run``."""
    from airflow_remote_tasks.triggers.remote_run import RemoteRunTrigger
    from airflow_remote_tasks.triggers.remote_runs import RemoteRunsTrigger

    handed: list[tuple[str, dict[str, Any], dict[str, Any] | None]] = []

    def watched(run: Callable[[Any], AsyncIterator[Any]]) -> Callable[[Any], AsyncIterator[Any]]:
        async def run_and_record(trigger: Any) -> AsyncIterator[Any]:
            async for event in run(trigger):
                handed.append((*trigger.serialize(), event.payload))
                yield event
                return
            handed.append((*trigger.serialize(), None))

        return run_and_record

    for trigger_class in (RemoteRunTrigger, RemoteRunsTrigger):
        monkeypatch.setattr(trigger_class, "run", watched(trigger_class.run))
    return handed


def forms_of(secret: str) -> list[str]:
    """Every form a secret could be stored in: as is, stripped, escaped (Python and JSON), base64."""
    return [*derived_forms(secret), json.dumps(secret)[1:-1]]


def test_the_trigger_row_event_and_xcom_of_a_deferred_sensor_hold_no_secret(
    flyte_with_auth, capfd, deferrals
):
    secret = "s3cr3t-VALUE-42"  # the flyte_with_auth emulator's client secret
    key = base64.b64encode(f"{flyte_with_auth.url}:airflow:{secret}:None".encode()).decode()
    flyte_with_auth.connect(host="", password=key)
    run_id = started_run("demo.say_hello", {"name": "Ada", "n": 1}, "keyed")
    result = run("w_flyte_deferred", run=run_id)
    assert result.xcom("sensor")["outputs"] == "Hello, Ada!"
    [(classpath, kwargs, payload)] = deferrals
    assert classpath == "airflow_remote_tasks.triggers.remote_run.RemoteRunTrigger"
    assert kwargs["conn_id"] == "flyte_default" and kwargs["ref"]["run_id"] == run_id
    assert payload is not None and payload["result"]["outputs"] == "Hello, Ada!"  # read in the trigger
    # The emulator answers only calls carrying a token the key was traded for (OAuth): the trigger's were.
    assert flyte_with_auth.emulator.tokens, "the connection must have traded its key for tokens"
    stored = {
        "trigger row": json.dumps([classpath, kwargs]),
        "event": json.dumps(payload),
        "XCom": json.dumps(result.all_xcom_values(), default=str),
        "logs": text_of(capfd),
    }
    for forbidden in (secret, key, *flyte_with_auth.emulator.tokens):
        for form in forms_of(forbidden):
            for where, text in stored.items():
                assert form not in text, f"a form of a secret ({len(form)} chars) is in the {where}"
