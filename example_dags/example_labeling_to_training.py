"""From labels to a model, scheduled by events: when people have finished labelling an Avala project, export
its labels to object storage, train on the export with a Flyte run, and publish the run's output as an asset.

Three steps, each started by the one before it, with no sensor holding a worker slot and no schedule guessing
when labelling is done:

1. ``labelled`` is an asset watched in the triggerer by ``RemoteEventTrigger``: it fires once each time the
   project's tasks have all reached ``completed`` (a change, never a state that stays true), and each event is
   one run of ``example_labeling_to_training``.
2. That DAG exports the project (the zip is streamed to ``output_path``, one folder per DAG run), then starts
   the training run with the export's path as an input (the export's XCom summary names the file it wrote).
3. The training run's outputs are written to ``MODEL``, a file that is an asset: its event is recorded only once
   the file is complete and in place, with the run's summary (run id, link, phase, bytes) in ``extra``, so
   ``example_labeling_to_training_evaluate`` (or any DAG scheduled on ``Asset(MODEL)``) runs once per trained
   model, never on a partial file.

Storage is any ``ObjectStoragePath`` (``s3://aws_default@bucket/labeling``, ``gs://...``): set
``LABELING_TO_TRAINING_STORAGE`` where the DAGs are parsed; the default is a folder on the local disk, which
works offline. Needs connections ``avala_default`` (type ``remote_tasks_avala``) and ``flyte_default`` (type
``remote_tasks_flyte``). To try it offline, start the emulators (``remote-tasks emulator avala --port 8092`` and
``remote-tasks emulator flyte --port 8089``) and point the connections at them, as ``example_avala.py`` and
``example_flyte.py`` say. The emulator's people finish the seeded project's 250 tasks over about eight
minutes (``--pace``: seconds a task): unpause these DAGs while they are at it, and the last task completed is
the event. A new round of labelling on the emulator: ``POST http://127.0.0.1:8092/_emulator/tasks`` with
``{"project": "proj-001", "add": 5}``, then with ``{"project": "proj-001", "status": "completed"}``. The Flyte
emulator's ``demo.describe`` stands in for a training task (it takes a config struct, here the dataset's URI
and the hyperparameters, and returns what it made of it).
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import Asset, AssetWatcher, ObjectStoragePath, dag, task

from airflow_remote_tasks import RemoteEventTrigger, RemoteTaskOperator

PROJECT = "proj-001"  # the Avala emulator's seeded project; in real use, your project's uid
TRAINING_TASK = "demo.describe"  # the Flyte task that trains: <environment>.<function>
# Read when the DAGs are parsed (an environment variable costs no call, unlike an Airflow Variable); every
# process that parses them must see the same value, since the model's asset URI is made from it.
STORAGE = os.environ.get(
    "LABELING_TO_TRAINING_STORAGE", f"file://{tempfile.gettempdir()}/airflow-labeling-to-training"
)
# One export per DAG run: a run id holds ':', which some stores refuse in a key.
EXPORT = STORAGE + "/exports/{{ run_id | replace(':', '_') }}/labels.zip"
# The latest model of the project, at one path: a consumer schedules on Asset(MODEL). Each run replaces it
# whole (a complete file or the earlier one, never a partial one).
MODEL = f"{STORAGE}/models/{PROJECT}/model.json"

labelled = Asset(
    # A name of its own, not the project's avala:// URI: an export with that URI in its outlets would then
    # schedule this DAG on its own exports.
    f"avala_labelled_{PROJECT}",
    watchers=[
        AssetWatcher(
            name="labelling_done",
            trigger=RemoteEventTrigger(
                conn_id="avala_default",
                platform="avala",
                # every task of the project completed: once per round of labelling, not on every poll
                event_filter={"project": PROJECT, "watch": "tasks", "status": "completed"},
                poll_interval=60,  # seconds: labelling takes hours, a minute's delay is small beside it
            ),
        )
    ],
)


@dag(
    dag_id="example_labeling_to_training",
    schedule=[labelled],
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,  # one training at a time: a round of labels that lands meanwhile waits its turn
    tags=["example", "avala", "flyte", "remote-tasks", "events", "assets"],
)
def example_labeling_to_training() -> None:
    export = RemoteTaskOperator(
        task_id="export",
        conn_id="avala_default",
        task="export",
        inputs={"project": PROJECT},
        output_path=EXPORT,
        poll_interval=5,
        timeout=timedelta(hours=1),  # a project's export takes minutes; past an hour it is taken as stuck
        deferrable=True,
    )
    train = RemoteTaskOperator(
        task_id="train",
        conn_id="flyte_default",
        task=TRAINING_TASK,
        inputs={
            # The export's XCom is its summary ({"run_id", "path", "bytes", ...}): the run is given the URI of
            # the file it wrote, rendered when the task starts. XCom holds that URI with any password masked:
            # name a store's credentials by connection (s3://aws_default@bucket/...), never in the URI.
            "config": {
                "dataset": "{{ ti.xcom_pull(task_ids='export')['path'] }}",
                "epochs": 10,
                "architecture": "yolo",
            },
            "tags": ["avala", PROJECT],
        },
        output_path=MODEL,  # the run's outputs as JSON; the file's asset event says which run wrote it
        poll_interval=10,
        timeout=timedelta(hours=6),  # a training run past this is aborted
        deferrable=True,
    )
    export >> train


@dag(
    dag_id="example_labeling_to_training_evaluate",
    schedule=Asset(MODEL),  # the complete model file: its event is recorded only once it is in place
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["example", "remote-tasks", "assets"],
)
def example_labeling_to_training_evaluate() -> None:
    @task
    def evaluate(*, triggering_asset_events: Any = None) -> dict[str, Any]:
        """Read the model the event names, and say which training run made it (from the event's extra)."""
        event = triggering_asset_events[Asset(MODEL)][-1]
        with ObjectStoragePath(MODEL).open("r") as model_file:
            model = json.load(model_file)
        print(f"Evaluating the model of run {event.extra['run_id']} ({event.extra['url']}): {model}")
        return {"run_id": event.extra["run_id"], "model": model}

    evaluate()


example_labeling_to_training_dag = example_labeling_to_training()
example_labeling_to_training_evaluate_dag = example_labeling_to_training_evaluate()
