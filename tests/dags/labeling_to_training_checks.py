"""The labeling-to-training example, run for real: one dag.test() of the pipeline against the Avala and Flyte
emulators exports the project's labels to object storage, gives the Flyte training run the export's path, and
records the trained model's file as an asset event with the run's summary, from which the scheduler's own code
makes a run of the evaluating DAG, whose task reads that model. The watched asset that schedules the pipeline
parses with its filter checked, and its watcher, against the Avala emulator, fires once when people have
completed the project's tasks: an event from which the scheduler's own code makes a run of the pipeline."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import os
import sys
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from airflow.sdk import DAG

from airflow_helpers import write_to_db
from airflow_remote_tasks.emulators.avala import AvalaEmulator
from airflow_remote_tasks.emulators.server import ServerThread
from support import AVALA_KEY, set_connection

pytestmark = [pytest.mark.airflow, pytest.mark.usefixtures("airflow_db")]


@pytest.fixture
def example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """The example module parsed with its storage under this test's folder."""
    monkeypatch.setenv("LABELING_TO_TRAINING_STORAGE", f"file://{tmp_path}")
    sys.modules.pop("example_labeling_to_training", None)
    yield importlib.import_module("example_labeling_to_training")
    sys.modules.pop("example_labeling_to_training", None)  # the next import reads its storage again


class Labelling:
    """An Avala emulator whose people finish the example project's 20 tasks when the test says (none by
    itself), and how many task listings it has been asked for."""

    def __init__(self, emulator: AvalaEmulator, url: str) -> None:
        self.emulator, self.url = emulator, url

    @property
    def listings(self) -> int:
        return int(self.emulator.app.calls["/api/v1/tasks/"])

    def finish(self, project: str) -> None:
        """Every task of ``project`` completed now, through the emulator's control route."""
        answer = httpx.post(
            f"{self.url}/_emulator/tasks", json={"project": project, "status": "completed"}, trust_env=False
        )
        answer.raise_for_status()


@pytest.fixture
def labelling() -> Iterator[Labelling]:
    emulator = AvalaEmulator(api_key=AVALA_KEY, tasks=20, pace=3600.0)  # an hour a task: none done by itself
    with ServerThread(emulator.app) as server:
        set_connection("avala_default", "remote_tasks_avala", server.url + "/api/v1", AVALA_KEY, {})
        yield Labelling(emulator, server.url)
    os.environ.pop("AIRFLOW_CONN_AVALA_DEFAULT", None)


def asset_events(uri: str) -> list[tuple[str | None, dict[str, Any]]]:
    """The events recorded on the asset of ``uri``: the task that recorded each (none for a watcher's), and its
    extra."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        events = session.query(AssetEvent).join(AssetModel, AssetEvent.asset_id == AssetModel.id)
        return [(e.source_task_id, dict(e.extra)) for e in events.filter(AssetModel.uri == uri)]


async def until(check: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"not so after {seconds} s"
        await asyncio.sleep(0.05)


def asset_triggered_runs(dag_id: str) -> list[Any]:
    """The DAG runs the scheduler makes for ``dag_id`` from its queued asset events (its own method, as each
    scheduler loop calls it), with the events each consumed loaded."""
    from airflow.jobs.job import Job
    from airflow.jobs.scheduler_job_runner import SchedulerJobRunner
    from airflow.models.dag import DagModel
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from airflow.utils.types import DagRunType
    from sqlalchemy.orm import selectinload

    with create_session() as session:
        # Its query of due DAGs is cut at [scheduler] max_dagruns_to_create_per_loop, and the other tests' DAGs
        # in this database come first: the DAG's own row, found due by the same method, is handed over.
        _, triggered = DagModel.dags_needing_dagruns(session)
        assert dag_id in triggered
        SchedulerJobRunner(job=Job())._create_dag_runs_asset_triggered(
            dag_models=[session.get(DagModel, dag_id)], session=session
        )
    with create_session() as session:
        runs = session.query(DagRun).filter_by(dag_id=dag_id, run_type=DagRunType.ASSET_TRIGGERED)
        return list(runs.options(selectinload(DagRun.consumed_asset_events)))


def run_task_of(dag: DAG, task_id: str, run_id: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Run one task of an existing DAG run in this process, as ``airflow tasks test`` does."""
    import argparse

    from airflow.cli.commands.task_command import task_test
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    monkeypatch.setenv("AIRFLOW_TEST_MODE", "True")  # task_test sets it: put back after the test
    args = argparse.Namespace(
        dag_id=dag.dag_id,
        task_id=task_id,
        logical_date_or_run_id=run_id,
        map_index=-1,
        task_params=None,
        env_vars=None,
        post_mortem=False,
        bundle_name=None,
    )
    task_test(args, dag=dag)
    with create_session() as session:
        return session.query(TaskInstance).filter_by(dag_id=dag.dag_id, task_id=task_id, run_id=run_id).one()


def test_labels_are_exported_trained_on_and_the_model_file_is_an_asset_event_the_evaluation_runs_on(
    avala, flyte, example, tmp_path, monkeypatch
):
    from airflow.models.asset import AssetDagRunQueue
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session

    pipeline, evaluate = (
        example.example_labeling_to_training_dag,
        example.example_labeling_to_training_evaluate_dag,
    )
    write_to_db(pipeline, evaluate, unpaused=True)
    for operator in pipeline.tasks:  # the emulators end within a second: no need to wait the example's polls
        operator.poll_interval = 0.2

    run = pipeline.test()

    assert {ti.task_id: str(ti.state) for ti in run.get_task_instances()} == {
        "export": "success",
        "train": "success",
    }
    # The export reached object storage, in this run's own folder, whole.
    export = tmp_path / "exports" / run.run_id.replace(":", "_") / "labels.zip"
    with zipfile.ZipFile(export) as archive:
        assert archive.namelist()
    # The training run was given that file's URI, with the rest of its config.
    [training] = flyte.runs_of(example.TRAINING_TASK)
    assert training["inputs"]["config"] == {
        "dataset": f"file://{export}",
        "epochs": 10,
        "architecture": "yolo",
    }
    assert training["inputs"]["tags"] == ["avala", example.PROJECT]
    # Its outputs are the model file, and the file is an asset event that says which run wrote it.
    model = tmp_path / "models" / example.PROJECT / "model.json"
    assert json.loads(model.read_text())["config"]["dataset"] == f"file://{export}"
    [(task, extra)] = asset_events(f"file://{model}")
    assert task == "train"
    assert extra["platform"] == "flyte" and extra["phase"] == "succeeded"
    assert extra["run_id"] == training["name"]
    assert extra["path"] == f"file://{model}" and extra["bytes"] == model.stat().st_size
    # The evaluating DAG is due for a run on it: the queue row the scheduler reads, and its own query.
    with create_session() as session:
        queued = {row.target_dag_id for row in session.query(AssetDagRunQueue)}
        _, triggered = DagModel.dags_needing_dagruns(session)
    assert evaluate.dag_id in queued and evaluate.dag_id in triggered
    # The run the scheduler makes on it consumes that event, and its task reads the model the event names.
    [evaluation] = asset_triggered_runs(evaluate.dag_id)
    assert [dict(event.extra) for event in evaluation.consumed_asset_events] == [extra]
    ti = run_task_of(evaluate, "evaluate", evaluation.run_id, monkeypatch)
    assert str(ti.state) == "success"
    assert ti.xcom_pull(task_ids="evaluate") == {
        "run_id": training["name"],
        "model": json.loads(model.read_text()),
    }


def test_the_pipeline_is_scheduled_on_the_watched_asset_whose_filter_was_checked_when_parsed(example):
    from airflow_remote_tasks import RemoteEventTrigger
    from airflow_remote_tasks.core.assets import file_asset_uri
    from airflow_remote_tasks.core.errors import ConfigurationError
    from airflow_remote_tasks.core.storage import storage_path

    pipeline = example.example_labeling_to_training_dag
    assert list(pipeline.timetable.asset_condition.objects) == [example.labelled]
    [watcher] = example.labelled.watchers
    trigger = watcher.trigger
    assert isinstance(trigger, RemoteEventTrigger)
    assert (trigger.conn_id, trigger.platform) == ("avala_default", "avala")
    assert trigger.event_filter == {"project": example.PROJECT, "watch": "tasks", "status": "completed"}
    assert trigger.checked.listing  # checked, without a connection, when the asset was made
    with pytest.raises(ConfigurationError, match="'watch'"):  # as a typo in the example's filter would be
        RemoteEventTrigger("avala_default", "avala", {**trigger.event_filter, "watch": "task"})
    # The evaluating DAG is scheduled on the URI the model file's event is recorded on.
    evaluate = example.example_labeling_to_training_evaluate_dag
    assert evaluate.timetable.asset_condition.uri == file_asset_uri(storage_path(example.MODEL))


def test_the_projects_tasks_all_completed_is_one_event_on_the_watched_asset_and_a_pipeline_run_is_due(
    labelling, example
):
    """The step before the pipeline: the watcher, run against the emulator, fires once people have completed
    every task of the project, and the event, handed to Airflow as the triggerer hands it
    (Trigger.submit_event on the trigger the DAG processor made for the watcher), queues a run of the pipeline,
    which the scheduler's own method makes. A running triggerer and scheduler doing the same is
    tests/cluster/test_event_scheduling.py's part."""
    from airflow.models.asset import AssetDagRunQueue, AssetModel
    from airflow.models.dag import DagModel
    from airflow.models.trigger import Trigger
    from airflow.utils.session import create_session

    from airflow_remote_tasks import RemoteEventTrigger
    from airflow_remote_tasks.core.transport import close_shared_clients

    pipeline = example.example_labeling_to_training_dag
    write_to_db(pipeline, unpaused=True)
    with create_session() as session:
        [row] = session.query(AssetModel).filter_by(name=example.labelled.name).one().triggers
        row_id, kwargs = row.id, dict(row.kwargs)
    watcher = RemoteEventTrigger(**{**kwargs, "poll_interval": 1})  # the example's, polling each second

    async def first_event() -> Any:
        events = watcher.run()
        waiting = asyncio.ensure_future(anext(events))
        try:
            # A second listing is made only once the first was read: the watcher's starting point, the
            # project's tasks not all completed. People finish them after it.
            await until(lambda: labelling.listings >= 2 or waiting.done(), seconds=30)
            assert not waiting.done(), "an event before any task was completed"
            labelling.finish(example.PROJECT)
            return await asyncio.wait_for(waiting, timeout=30)
        finally:
            waiting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await waiting  # the generator is free to be closed only once its step has ended
            await events.aclose()
            await close_shared_clients()

    event = asyncio.run(first_event())

    payload = event.payload
    assert payload["platform"] == "avala" and payload["project"] == example.PROJECT
    assert payload["status"] == "completed" and payload["counts"] == {"tasks": 20, "completed": 20}
    Trigger.submit_event(row_id, event)
    [(task, extra)] = asset_events(example.labelled.uri)
    assert task is None and extra == {"from_trigger": True, "payload": payload}
    with create_session() as session:
        queued = {row.target_dag_id for row in session.query(AssetDagRunQueue)}
        _, triggered = DagModel.dags_needing_dagruns(session)
    assert pipeline.dag_id in queued and pipeline.dag_id in triggered
    # The scheduler's own step: the asset-triggered run it makes consumes the watcher's event.
    [run] = asset_triggered_runs(pipeline.dag_id)
    assert [dict(event.extra) for event in run.consumed_asset_events] == [extra]
