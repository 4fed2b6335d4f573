"""DAGs scheduled on assets whose watchers fire when remote runs end, or an Avala project's tasks are all done
(tests/cluster/test_event_scheduling.py).

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


def watched(name: str, platform: str, event_filter: dict[str, Any]) -> Asset:
    trigger = RemoteEventTrigger(f"{platform}_default", platform, event_filter, poll_interval=POLL)
    return Asset(name, watchers=[AssetWatcher(name=f"{name}_ended", trigger=trigger)])


@task
def record(triggering_asset_events: Any = None) -> list[str]:
    """The remote runs (or state changes) whose events scheduled this DAG run."""
    return [
        event.extra["payload"]["run_id"] for events in triggering_asset_events.values() for event in events
    ]


SCHEDULES = {
    "e_flyte_events": [watched("e_flyte_big_output", "flyte", {"task_name": WATCHED_TASK})],
    "e_julep_events": [watched("e_julep_echo", "julep", {"task_id": JULEP_TASK})],
    "e_avala_events": [
        watched("e_avala_tasks", "avala", {"project": AVALA_PROJECT, "watch": "tasks", "status": "completed"})
    ],
    "e_labelbox_events": [
        watched("e_labelbox_exports", "labelbox", {"project_id": LABELBOX_PROJECT, "watch": "exports"})
    ],
    # tasks that never run: only the listings they share are counted
    "e_flyte_watchers": [
        watched(f"e_flyte_watcher_{n}", "flyte", {"task_name": f"demo.unused_{n}"}) for n in range(WATCHERS)
    ],
}

for dag_id, schedule in SCHEDULES.items():
    with DAG(dag_id, start_date=START, schedule=schedule, catchup=False, tags=["events"]):
        record()
