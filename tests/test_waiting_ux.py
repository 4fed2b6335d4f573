"""What a person sees while a sensor waits: a progress line when it changes (in every mode, the same line),
the run's outcome in XCom, and a set wait that names what it cannot list, the runs that left it and the
status words nobody mapped."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from airflow_helpers import DAGS, DagResult
from airflow_remote_tasks.core.models import RunOrigin
from airflow_remote_tasks.platforms.flyte.hook import FlyteHook

sys.path.insert(0, str(DAGS))
from waiting_test_dags import ALL_DAGS

pytestmark = [pytest.mark.airflow, pytest.mark.usefixtures("airflow_db")]


def text_of(capfd: pytest.CaptureFixture[str]) -> str:
    out = capfd.readouterr()
    return out.out + out.err


def run(dag_id: str, **conf: Any) -> DagResult:
    return DagResult(ALL_DAGS[dag_id].test(run_conf=conf or None))


def started_run(task_name: str, inputs: dict[str, Any], key: str) -> str:
    hook = FlyteHook("flyte_default")
    platform = hook.platform
    interface = hook.run(platform.resolve_task(task_name, "latest"))
    wire = platform.prepare_inputs(interface, inputs)
    origin = RunOrigin(dag_id="elsewhere", run_id="r", task_id=key)
    return hook.run(platform.submit(interface, wire, origin=origin, labels={}, env={})).run_id


def after_calls(app: Any, paths: tuple[str, ...], count: int, action: Callable[[], None]) -> threading.Thread:
    """Do ``action`` once the emulator has answered ``count`` more calls to ``paths`` (the sensor's polls)."""
    start = sum(app.calls.get(p, 0) for p in paths)

    def watch() -> None:
        deadline = time.time() + 60
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

    return after_calls(flyte.emulator.app, FLYTE_READS, reads, end)


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
