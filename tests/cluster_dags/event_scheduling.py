"""DAGs scheduled on assets whose watchers fire when remote runs end, an Avala project's tasks are all done, or a
Labelbox project's data rows reach Done (tests/cluster/test_event_scheduling.py).

Paused until that test unpauses them: a watcher is registered only for an asset an unpaused DAG is scheduled on.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import DAG, Asset, AssetWatcher, task

from airflow_remote_tasks import RemoteEventTrigger

START = datetime(2026, 1, 1)
POLL = 1.0  # the shortest a watcher takes: the test waits on each end
WATCHED_TASK = "demo.big_output"  # no other cluster test runs it, so only the test's runs end here
JULEP_TASK = "0e7e0000-0000-4000-8000-0000000000e1"  # created under this id by the test, before unpausing
WATCHERS = 10  # watchers of one project besides the one above, sharing its poll
AVALA_PROJECT = "proj-events"  # made by the test: no other cluster test changes its tasks
LABELBOX_PROJECT = "ckprojevents0000000000001"  # its exports are started by the test only
# Added by the test on a dataset of its own: only the test moves its rows. The deployment lowers
# [remote_tasks] costly_watch_min_poll_interval to POLL, so that its watcher may poll as often as the others.
LABELS_PROJECT = "ckprojlabels0000000000001"
LABELS_DATASET = "ckdslabels000000000000042"


def watched(name: str, platform: str, event_filter: dict[str, Any]) -> Asset:
    trigger = RemoteEventTrigger(f"{platform}_default", platform, event_filter, poll_interval=POLL)
    return Asset(name, watchers=[AssetWatcher(name=f"{name}_ended", trigger=trigger)])


def end_of(payload: dict[str, Any]) -> str | list[str]:
    """What an event's payload says ended: the remote run's id (or the state change's), or the ids of the data
    rows it stands for (a labels watcher's, sorted)."""
    rows = payload.get("data_row_ids")
    return sorted(rows) if rows is not None else str(payload["run_id"])


@task
def record(triggering_asset_events: Any = None) -> list[str | list[str]]:
    """The remote runs (or state changes, or data rows) whose events scheduled this DAG run."""
    return [end_of(event.extra["payload"]) for events in triggering_asset_events.values() for event in events]


SCHEDULES = {
    "e_flyte_events": [watched("e_flyte_big_output", "flyte", {"task_name": WATCHED_TASK})],
    "e_julep_events": [watched("e_julep_echo", "julep", {"task_id": JULEP_TASK})],
    "e_avala_events": [
        watched("e_avala_tasks", "avala", {"project": AVALA_PROJECT, "watch": "tasks", "status": "completed"})
    ],
    "e_labelbox_events": [
        watched("e_labelbox_exports", "labelbox", {"project_id": LABELBOX_PROJECT, "watch": "exports"})
    ],
    "e_labelbox_labels": [
        watched(
            "e_labelbox_done_rows",
            "labelbox",
            {"project_id": LABELS_PROJECT, "watch": "labels", "workflow_status": "Done"},
        )
    ],
    # tasks that never run: only the listings they share are counted
    "e_flyte_watchers": [
        watched(f"e_flyte_watcher_{n}", "flyte", {"task_name": f"demo.unused_{n}"}) for n in range(WATCHERS)
    ],
}

for dag_id, schedule in SCHEDULES.items():
    with DAG(dag_id, start_date=START, schedule=schedule, catchup=False, tags=["events"]):
        record()
