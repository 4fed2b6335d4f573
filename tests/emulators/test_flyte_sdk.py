"""The official flyte SDK and our client agree with the emulator: so the emulator speaks Flyte.

The SDK talks binary protobuf with gzip; our client talks JSON. Both must see the same runs.
"""

from __future__ import annotations

import pytest

from airflow_helpers import run_dag

flyte_sdk = pytest.importorskip("flyte")
import flyte.remote  # noqa: E402

pytestmark = [pytest.mark.sdk, pytest.mark.usefixtures("airflow_db")]


@pytest.fixture
def sdk(flyte):
    flyte_sdk.init(
        endpoint=flyte.url.removeprefix("http://"), insecure=True, project="flytesnacks", domain="development"
    )
    return flyte


def test_sdk_fetches_the_task_and_runs_it_with_inputs(sdk):
    task = flyte.remote.Task.get("demo.say_hello", auto_version="latest")
    run = flyte_sdk.run(task, name="sdk", n=2)
    run.wait()
    assert run.phase.name.endswith("SUCCEEDED")
    assert run.outputs().named_outputs == {"o0": "Hello, sdk! Hello, sdk!"}
    [record] = sdk.runs
    assert record["inputs"] == {"name": "sdk", "n": 2}


def test_sdk_struct_inputs_are_msgpack_our_codec_reads(sdk):
    task = flyte.remote.Task.get("demo.describe", auto_version="latest")
    run = flyte_sdk.run(task, config={"lr": 0.5, "layers": [8]}, tags=None, weights={"a": 1.0})
    run.wait()
    assert sdk.runs[0]["inputs"]["config"] == {"lr": 0.5, "layers": [8]}
    assert run.outputs().named_outputs["o0"]["scaled"] == {"a": 2.0}


def test_sdk_reads_the_run_the_operator_created(sdk):
    result = run_dag("t_hello_worker")
    run_id = result.xcom("remote", "run_id")
    run = flyte.remote.Run.get(name=run_id)
    assert run.phase.name.endswith("SUCCEEDED")
    assert run.outputs().named_outputs == {"o0": result.xcom("remote")}
    assert run.url == result.xcom("remote", "run_url")


def test_sdk_aborts_a_run(sdk):
    task = flyte.remote.Task.get("demo.sleep", auto_version="latest")
    run = flyte_sdk.run(task, seconds=30.0)
    run.abort()
    assert sdk.runs[0]["phase"] == "ACTION_PHASE_ABORTED"
