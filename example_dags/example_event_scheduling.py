"""Schedule a DAG on a remote run's success: each time a Flyte training run succeeds, evaluate its model.

The asset is watched by ``RemoteEventTrigger`` in the triggerer: every Flyte run of the task that ends in a
phase the filter names (here: succeeded) is one asset event, and so one run of this DAG. A watcher fires on the
runs that end after its first listing; its place is kept in the asset's state, so a restarted triggerer
neither loses nor repeats an end. Watchers of one project on one connection share one listing per poll.

Needs a connection ``flyte_default`` of type ``remote_tasks_flyte``. To try it offline, start the emulator
(``remote-tasks emulator flyte --port 8089``), point the connection at it
(``AIRFLOW_CONN_FLYTE_DEFAULT='{"conn_type": "remote_tasks_flyte", "host": "http://127.0.0.1:8089"}'``),
unpause this DAG and run the ``example_flyte`` DAG: its ``demo.stats`` run stands in for a training run.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import Asset, AssetWatcher, dag, task

from airflow_remote_tasks import RemoteEventTrigger

TRAINING_TASK = "demo.stats"  # the Flyte task whose successful runs are watched: <environment>.<function>

trained_model = Asset(
    "flyte_trained_model",
    watchers=[
        AssetWatcher(
            name="training_succeeded",
            trigger=RemoteEventTrigger(
                conn_id="flyte_default",
                platform="flyte",
                # also "labels" (on Union), "phases" (default ["succeeded"]), "project" and "domain"
                event_filter={"task_name": TRAINING_TASK, "phases": ["succeeded"]},
                poll_interval=30,  # seconds between listings of the project's ended runs
            ),
        )
    ],
)


@dag(
    dag_id="example_event_scheduling",
    start_date=datetime(2026, 1, 1),
    schedule=[trained_model],
    catchup=False,
    tags=["example", "flyte", "remote-tasks", "events"],
)
def example_event_scheduling() -> None:
    @task
    def evaluate(triggering_asset_events: Any = None) -> list[str]:
        """Each event's payload: the run's ``ref`` (platform, run_id, scope, url), ``phase``, ``ended_at``,
        ``task`` and a ``summary``."""
        runs = []
        for events in triggering_asset_events.values():
            for event in events:
                payload = event.extra["payload"]
                print(f"Evaluating the model of {payload['summary']}: {payload['ref']['url']}")
                runs.append(payload["run_id"])
        return runs

    evaluate()


example_event_scheduling_dag = example_event_scheduling()
