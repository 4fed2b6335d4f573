"""Asset events of remote tasks, read back from Airflow's database after one real dag.test() against the
emulators: a task's outlets get one event each with the run's summary in extra; a file written to output_path
gets an event on its URI once complete, and a run that fails, a download that breaks or a run paused for input
gets none; the DAGs scheduled on the file, or on the alias of a templated output_path, are then due for a run
(the queue rows the scheduler reads, and its own query of the DAGs that need one)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from airflow.sdk import DAG, Asset

from airflow_helpers import write_to_db
from airflow_remote_tasks.operators.asset_events import (
    output_path_alias,
)
from airflow_remote_tasks.operators.remote_task import RemoteTaskOperator

pytestmark = [pytest.mark.airflow, pytest.mark.usefixtures("airflow_db")]

START = datetime(2026, 1, 1)
PROJECT = "ckproj0000000000000000001"  # the Labelbox emulator's seeded project
EXPORT = {"project_id": PROJECT, "filters": {"workflow_status": "Done"}, "params": {"label_details": True}}
REVIEW = {  # a Julep task that waits for a person's input
    "name": "airflow-review-assets",
    "input_schema": {
        "type": "object",
        "properties": {"summary": {"type": "string"}},
        "required": ["summary"],
    },
    "main": [{"wait_for_input": {"info": {"question": "Publish?"}}}, {"return": {"ok": "$ _.approved"}}],
}


def producer(folder: str) -> DAG:
    common: dict[str, Any] = {"poll_interval": 0.2, "retries": 0, "retry_delay": timedelta(0)}
    with DAG("assets_producer", start_date=START, schedule=None, catchup=False) as dag:
        broken = RemoteTaskOperator(  # runs first: its download meets the emulator's one broken answer
            task_id="broken_download",
            conn_id="labelbox_default",
            task="export_project",
            inputs=EXPORT,
            output_path=f"file://{folder}/broken.ndjson",
            **common,
        )
        export = RemoteTaskOperator(
            task_id="export",
            conn_id="labelbox_default",
            task="export_project",
            inputs=EXPORT,
            output_path=f"file://{folder}/labels.ndjson",
            outlets=[Asset(f"labelbox://projects/{PROJECT}")],
            deferrable=True,
            trigger_rule="all_done",
            **common,
        )
        broken >> export
        RemoteTaskOperator(
            task_id="hello",
            conn_id="flyte_default",
            task="demo.say_hello",
            inputs={"name": "Grace", "n": 2},
            output_path=f"file://{folder}/{{{{ ds }}}}/hello.json",
            outlets=[Asset("flyte://Flyte.example.com/flytesnacks/development/demo.say_hello")],
            **common,
        )
        RemoteTaskOperator(
            task_id="fails",
            conn_id="flyte_default",
            task="demo.fail",
            inputs={"message": "disk full"},
            output_path=f"file://{folder}/failed.json",
            **common,
        )
        RemoteTaskOperator(
            task_id="paused",
            conn_id="julep_default",
            task=REVIEW,
            inputs={"summary": "s"},
            on_paused="succeed",
            output_path=f"file://{folder}/paused.json",
            outlets=[Asset("julep://julep.example.com/tasks/068306ff-e0f3-7fe9-8000-0013626a759a")],
            **common,
        )
    return dag


def events_by_uri() -> dict[str, list[tuple[str, dict[str, Any]]]]:
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session

    found: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    with create_session() as session:
        for event in session.query(AssetEvent).filter_by(source_dag_id="assets_producer"):
            found.setdefault(event.asset.uri, []).append((event.source_task_id, dict(event.extra)))
    return found


def test_outlets_and_output_path_files_get_events_that_schedule_the_dags_on_them(
    labelbox, flyte, julep, tmp_path
):
    from airflow.models.asset import AssetDagRunQueue
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session

    folder = str(tmp_path)
    dag = producer(folder)
    with DAG(
        "assets_on_file",
        start_date=START,
        schedule=Asset(f"file://{folder}/labels.ndjson"),
        is_paused_upon_creation=False,
    ) as on_file:
        pass
    template = f"file://{folder}/{{{{ ds }}}}/hello.json"
    with DAG(
        "assets_on_alias",
        start_date=START,
        schedule=output_path_alias(template),
        is_paused_upon_creation=False,
    ) as on_alias:
        pass
    with DAG(
        "assets_on_failed",
        start_date=START,
        schedule=Asset(f"file://{folder}/failed.json"),
        is_paused_upon_creation=False,
    ) as on_failed:
        pass
    write_to_db(dag, on_file, on_alias, on_failed)
    labelbox.emulator.app.faults.update({"lose_answer": "GET /_files/", "lose_answer_next": 1})

    run = dag.test()

    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    assert states == {
        "broken_download": "failed",
        "export": "success",
        "hello": "success",
        "fails": "failed",
        "paused": "success",
    }
    events = events_by_uri()
    day = run.logical_date.strftime("%Y-%m-%d")
    labels, hello = tmp_path / "labels.ndjson", tmp_path / day / "hello.json"
    assert sorted(events) == sorted(
        [
            f"labelbox://projects/{PROJECT}",
            f"file://{labels}",
            "flyte://flyte.example.com/flytesnacks/development/demo.say_hello",
            f"file://{hello}",
            "julep://julep.example.com/tasks/068306ff-e0f3-7fe9-8000-0013626a759a",
        ]
    )  # none on broken.ndjson, failed.json or paused.json, which were never written
    assert not (tmp_path / "broken.ndjson").exists() and not (tmp_path / "paused.json").exists()

    # One event per outlet, the run's summary in extra.
    [(task, export_extra)] = events[f"labelbox://projects/{PROJECT}"]
    rows = labels.read_bytes().count(b"\n")
    assert task == "export"
    assert export_extra == {
        "platform": "labelbox",
        "run_id": export_extra["run_id"],
        "url": f"https://app.labelbox.com/projects/{PROJECT}",
        "phase": "succeeded",
        "raw_phase": "COMPLETE",
        "percent": 100.0,
        "bytes": labels.stat().st_size,
        "rows": rows,
    }
    assert rows > 0
    # The file's event: the same summary and where it is, its counts those of the complete file on disk.
    [(task, file_extra)] = events[f"file://{labels}"]
    assert task == "export"
    assert file_extra == {**export_extra, "path": f"file://{labels}", "errors": None}
    [(_, hello_extra)] = events[f"file://{hello}"]
    assert hello_extra["bytes"] == hello.stat().st_size and hello_extra["phase"] == "succeeded"
    [(_, paused_extra)] = events["julep://julep.example.com/tasks/068306ff-e0f3-7fe9-8000-0013626a759a"]
    assert paused_extra["phase"] == "paused"

    # What the scheduler reads: a queue row for each DAG scheduled on an asset that changed, and the DAGs its
    # query finds due for an asset-triggered run.
    with create_session() as session:
        queued = {row.target_dag_id for row in session.query(AssetDagRunQueue)}
        _, triggered = DagModel.dags_needing_dagruns(session)
    assert {"assets_on_file", "assets_on_alias"} <= queued
    assert "assets_on_failed" not in queued
    assert {"assets_on_file", "assets_on_alias"} <= set(triggered)


def test_no_password_reaches_an_events_extra_or_an_alias_name():
    from airflow_remote_tasks.core.models import RunRef, RunStatus
    from airflow_remote_tasks.core.phases import Phase
    from airflow_remote_tasks.operators.asset_events import run_summary

    ref = RunRef(
        platform="julep", run_id="r1", url="https://reader:s3cr3t-pass@dash.example.com/executions/r1"
    )
    status = RunStatus(phase=Phase.SUCCEEDED, raw_phase="succeeded", steps=3)
    value = {"succeeded": 5, "failed": 0, "ok": True, "rows": "many", "path": "x"}
    summary = run_summary(ref, status, value)
    assert (
        summary
        == {
            "platform": "julep",
            "run_id": "r1",
            "url": "https://reader:***@dash.example.com/executions/r1",
            "phase": "succeeded",
            "raw_phase": "succeeded",
            "steps": 3,
            "succeeded": 5,
            "failed": 0,
        }
    )  # counts only where they are numbers: no "ok", no "rows" text, and no path a plain value happens to hold
    alias = output_path_alias("s3://user:s3cr3t-pass@bucket/{{ ds }}/labels.ndjson")
    assert alias.name == "remote-tasks output_path s3://user:***@bucket/{{ ds }}/labels.ndjson"


def test_the_example_consumer_is_scheduled_on_the_uri_the_producers_file_event_names():
    from example_assets import LABELS, example_assets_on_labels_dag

    from airflow_remote_tasks.core.assets import file_asset_uri
    from airflow_remote_tasks.core.storage import storage_path

    assert example_assets_on_labels_dag.timetable.asset_condition.uri == file_asset_uri(storage_path(LABELS))
