"""Remote runs that end (and an Avala project whose tasks are all done, a Labelbox project's data rows that reach
Done) schedule DAGs in a real Airflow (scheduler, DAG processor, two triggerers, PostgreSQL): assets watched by
RemoteEventTrigger, DAGs scheduled on them (tests/cluster_dags/event_scheduling.py). Each end is one DAG run,
across a triggerer killed with SIGKILL and restarted; watchers of one project share a listing; a labels watcher
exports no window twice."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import uuid
from collections import Counter
from datetime import datetime
from typing import Any
from unittest import mock

import httpx
import pytest

from airflow_remote_tasks.core.events import LAG
from airflow_remote_tasks.emulators.flyte.literals import write
from airflow_remote_tasks.emulators.julep import DEMO_AGENT_ID
from airflow_remote_tasks.platforms.labelbox.labels import NAME_TIME, PREFIX
from support import CLUSTER_DAGS, JULEP_KEY

sys.path.insert(0, str(CLUSTER_DAGS))
# The labels watcher's poll interval is checked as the DAGs are made: against the deployment's setting
# (conftest), here too.
with mock.patch.dict(os.environ, {"AIRFLOW__REMOTE_TASKS__COSTLY_WATCH_MIN_POLL_INTERVAL": "1"}):
    from event_scheduling import (
        AVALA_PROJECT,
        JULEP_TASK,
        LABELBOX_PROJECT,
        LABELS_DATASET,
        LABELS_PROJECT,
        POLL,
        SCHEDULES,
        WATCHED_TASK,
        WATCHERS,
        end_of,
    )

# The deployment's start counts in the timeout when this test runs alone: two minutes and more on a loaded machine.
pytestmark = [pytest.mark.cluster, pytest.mark.timeout(420)]
LIST_RUNS = "/flyteidl2.workflow.RunService/ListRuns"
TRIGGER = "airflow_remote_tasks.triggers.events.RemoteEventTrigger"


def query(postgres, sql: str) -> list[tuple[Any, ...]]:
    connection = postgres.connect()
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql)
            return list(cursor.fetchall())
    finally:
        connection.close()


def watermarks(postgres) -> dict[str, dict[str, Any]]:
    """The watchers' watermarks in the metadata database, by asset name."""
    rows = query(
        postgres,
        "SELECT a.name, s.value FROM asset_state_store s JOIN asset a ON a.id = s.asset_id "
        "WHERE s.key LIKE 'airflow_remote_tasks.watermark.%'",
    )
    return {name: json.loads(value) for name, value in rows}


def holders(postgres) -> set[int]:
    """The triggerer jobs running the watchers' triggers."""
    rows = query(postgres, f"SELECT DISTINCT triggerer_id FROM trigger WHERE classpath = '{TRIGGER}'")
    return {row[0] for row in rows if row[0] is not None}


def steady(airflow, postgres) -> bool:
    """The watchers are each run by one triggerer, and stay so for a few seconds: every triggerer alive
    heartbeats, and holds them. A triggerer that stalls past the health check (as one does when it first reads
    through Airflow's API, on a loaded machine) has its triggers taken over while it still runs them, and both
    then fire each end: Airflow's doing, not the watchers'."""

    def calm() -> bool:
        alive = {job for name, job in airflow.job_ids.items() if name in airflow.processes}
        rows = query(
            postgres,
            "SELECT id, EXTRACT(EPOCH FROM now() - latest_heartbeat) FROM job WHERE job_type = 'TriggererJob'",
        )
        late = {job for job, age in rows if job in alive and age > 3}
        return not late and holders(postgres) <= alive

    return calm() and not time.sleep(3) and calm()


def dag_runs(airflow, dag_id: str) -> list[dict[str, Any]]:
    return list(airflow.api("GET", f"dags/{dag_id}/dagRuns", params={"limit": 100})["dag_runs"])


def fired_by(airflow, dag_id: str) -> list[list[Any]]:
    """The ends of the events each of the DAG's runs was made from (run ids, or data rows), by the scheduler's own
    record."""
    found = []
    for run in dag_runs(airflow, dag_id):
        events = airflow.api("GET", f"dags/{dag_id}/dagRuns/{run['dag_run_id']}/upstreamAssetEvents")
        found.append([end_of(e["extra"].get("payload", {"run_id": None})) for e in events["asset_events"]])
    return found


def holds_each_end(
    before: dict[str, dict[str, Any]], now: dict[str, dict[str, Any]], ended: dict[str, list[Any]]
) -> bool:
    """Each ended DAG's watcher has written the watermark after its latest end: the end's run id among the
    watermark's fired runs (an Avala change, whose id is Avala's, as a run id fired since ``before``; a labels
    change's data rows, which the watermark keeps instead of the change, each among them)."""
    for dag_id, ends in ended.items():
        asset = SCHEDULES[dag_id][0].name
        fired = set(now.get(asset, {}).get("fired", {}))
        if dag_id == "e_avala_events":
            if not fired - set(before.get(asset, {}).get("fired", {})):
                return False
        elif dag_id == "e_labelbox_labels":
            if not set(ends[-1]) <= fired:
                return False
        elif ends[-1] not in fired:
            return False
    return True


def labels_windows(labelbox) -> list[tuple[datetime, datetime]]:
    """The windows of the labels watcher's exports of :data:`LABELS_PROJECT`, as their names give them (the
    watcher's digest, the window's start and end)."""
    with labelbox.lock:  # tasks are added under it, by the emulator's thread
        names = [t.name for t in labelbox.tasks.values() if t.project_id == LABELS_PROJECT]
    windows = []
    for name in names:
        if name.startswith(PREFIX):
            start, end = name.rsplit("-", 2)[1:]
            windows.append((datetime.strptime(start, NAME_TIME), datetime.strptime(end, NAME_TIME)))
    return windows


def exported_twice(windows: list[tuple[datetime, datetime]]) -> dict[datetime, int]:
    """The starts of more than one export that moves the listing on (ends more than the lag after it): a poll
    retried, or rerun where the watcher went, attaches to that export instead. A watcher's first window is just
    the lag long and does not move the listing on (labels.py): the poll after it exports from the same start,
    which is not twice."""
    counts = Counter(start for start, end in windows if end - start > LAG)
    return {start: n for start, n in counts.items() if n > 1}


class Ends:
    """Remote runs made to end on cue: a Flyte run of the watched task (it ends about a second after it
    starts), a Julep execution of the watched task, a Labelbox export of the watched project (three seconds),
    an Avala task added to the watched project and done with the rest (every task of it done again), and two
    data rows of the labels project moved to Done now (their last activity, in the watcher's window)."""

    LABELS_ROWS = 12  # seeded: the even ones Done long ago (outside any window), the odd ones to label

    def __init__(self, flyte_emulator, julep_emulator, avala_emulator, labelbox_emulator) -> None:
        self.flyte = flyte_emulator[0].state
        self.avala = avala_emulator[0].state
        self.labelbox = labelbox_emulator[0].state
        self.labelbox_url = labelbox_emulator[1].removesuffix("/graphql")
        self.labelbox.add_dataset(LABELS_DATASET, "events-labels", self.LABELS_ROWS)
        self.labelbox.add_project(LABELS_PROJECT, "events-labels", LABELS_DATASET)
        self.to_label = [
            self.labelbox.seeded_row(LABELS_DATASET, seed)["id"] for seed in range(1, self.LABELS_ROWS, 2)
        ]
        self.julep_url = julep_emulator[1] + "/api"
        self.headers = {"Authorization": f"Bearer {JULEP_KEY}"}
        definition = {"name": "echo", "main": [{"evaluate": {"said": "$ _.text"}}]}
        url = f"{self.julep_url}/agents/{DEMO_AGENT_ID}/tasks/{JULEP_TASK}"
        httpx.put(url, json=definition, headers=self.headers).raise_for_status()
        self.avala.change_tasks(
            {"project": AVALA_PROJECT, "add": 1}
        )  # not done: its first listing is no edge

    def all(self) -> dict[str, Any]:
        """One end of each, by the DAG it schedules: the run's id (an Avala change's is the platform's; a labels
        change's, its data rows)."""
        task = self.flyte.find_task(WATCHED_TASK, "v1")
        name = "e" + uuid.uuid4().hex[:12]
        self.flyte.create_run(
            org="",
            project="flytesnacks",
            domain="development",
            name=name,
            task=task,
            input_literals=[{"name": "size", "value": write(3, task.inputs["size"])}],
            labels={},
        )
        created = httpx.post(
            f"{self.julep_url}/tasks/{JULEP_TASK}/executions",
            json={"input": {"text": "hi"}},
            headers=self.headers,
        )
        export = self.labelbox.start_task(
            "events", "export-data-rows", {"RESULT": b"", "ERRORS": b""}, project_id=LABELBOX_PROJECT
        )
        self.avala.change_tasks({"project": AVALA_PROJECT, "add": 1})
        counts = self.avala.change_tasks({"project": AVALA_PROJECT, "status": "completed"})["counts"]
        rows, self.to_label = sorted(self.to_label[:2]), self.to_label[2:]
        # Through the control endpoint: the emulator's thread serializes it with the exports it answers.
        body = {"project_id": LABELS_PROJECT, "data_row_ids": rows, "status": "Done"}
        httpx.post(f"{self.labelbox_url}/_emulator/workflow", json=body).raise_for_status()
        return {
            "e_flyte_events": name,
            "e_julep_events": str(created.raise_for_status().json()["id"]),
            "e_labelbox_events": export.id,
            "e_avala_events": f"{counts['completed']} tasks",
            "e_labelbox_labels": rows,
        }


def test_each_remote_end_is_one_dag_run_across_a_killed_triggerer(
    airflow, flyte_emulator, julep_emulator, avala_emulator, labelbox_emulator, postgres, capsys
):
    ends = Ends(flyte_emulator, julep_emulator, avala_emulator, labelbox_emulator)
    for dag_id in SCHEDULES:
        airflow.unpause(dag_id)
    assets = [asset.name for schedule in SCHEDULES.values() for asset in schedule]
    try:
        # The watchers are registered when the unpaused DAGs are parsed again; each writes its watermark at its
        # first listing, from when on its ends fire.
        airflow.wait_until(
            lambda: set(assets) <= set(watermarks(postgres)), 120, "every watcher's first listing"
        )
        ended: dict[str, list[Any]] = {dag_id: [] for dag_id in SCHEDULES if dag_id != "e_flyte_watchers"}

        def end_both() -> None:
            for dag_id, end in ends.all().items():
                ended[dag_id].append(end)

        def runs_are(count: int) -> bool:
            """Every DAG has ``count`` runs, once each has at least that many (more fail, with their ends)."""
            counts = {dag_id: len(dag_runs(airflow, dag_id)) for dag_id in ended}
            if all(n >= count for n in counts.values()):
                # a repeat of an event would come within a poll or two; a labels watcher's poll waits for
                # its export besides
                time.sleep(2 * POLL + ends.labelbox.task_seconds)
                counts = {dag_id: len(dag_runs(airflow, dag_id)) for dag_id in ended}
                assert set(counts.values()) == {count}, (
                    f"DAG runs {counts} for the ends {ended}; the events of each: "
                    f"{ {dag_id: fired_by(airflow, dag_id) for dag_id in ended} }"
                )
                return True
            return False

        airflow.wait_until(lambda: steady(airflow, postgres), 120, "each watcher run by one triggerer")
        # Eleven watchers of one project (ten and the watched task's) polling every second: one listing per poll
        # on each triggerer running some of them.
        emulator = flyte_emulator[0]
        running = holders(postgres)
        before, started = emulator.app.calls[LIST_RUNS], time.monotonic()
        time.sleep(4)
        listings, seconds = emulator.app.calls[LIST_RUNS] - before, time.monotonic() - started
        assert listings <= len(running) * (seconds / POLL + 2), (
            f"{listings} ListRuns in {seconds:.1f} s for {WATCHERS + 1} watchers on {len(running)} triggerers"
        )
        before = watermarks(postgres)
        end_both()
        # The triggerers running the watchers die (SIGKILL) between ends: once each end's DAG run is there and
        # its watcher's watermark holds it, at once (polled every 0.1 s). A kill within the second between
        # Airflow storing an event and that write fires the event again (README: Changes, not states): the
        # one repeat the watermark does not rule out. Two more ends come while they are down; a triggerer left
        # takes the watchers over, else the restarted ones do.
        airflow.wait_until(
            lambda: (
                all(len(dag_runs(airflow, dag_id)) >= 1 for dag_id in ended)
                and holds_each_end(before, watermarks(postgres), ended)
            ),
            60,
            "a DAG run per end, and each watcher's watermark after it",
            every=0.1,
        )
        victims = [name for name, job in airflow.job_ids.items() if job in running]
        for victim in victims:
            airflow.kill(victim, signal.SIGKILL)
        end_both()
        killed_at = time.monotonic()
        survivors = [name for name in airflow.job_ids if name in airflow.processes]
        if not survivors:
            for victim in victims:
                airflow.start_component(victim)
        airflow.wait_until(
            lambda: runs_are(2), 90, "one DAG run per end that came while the triggerer was down"
        )
        taken_over = time.monotonic() - killed_at
        if survivors:  # restarted once the survivor holds the watchers: it does not race it for them
            for victim in victims:
                airflow.start_component(victim)
        airflow.wait_until(lambda: steady(airflow, postgres), 60, "each watcher run by one triggerer again")
        end_both()
        airflow.wait_until(lambda: runs_are(3), 60, "one DAG run per end after the restart")
        for dag_id, runs in ended.items():
            for run in dag_runs(airflow, dag_id):
                airflow.wait_for_run(dag_id, run["dag_run_id"], 60)
            recorded = [
                airflow.xcom(dag_id, run["dag_run_id"], "record") for run in dag_runs(airflow, dag_id)
            ]
            if dag_id == "e_avala_events":  # the change's id is Avala's: one each, each its own
                assert len({tuple(r) for r in recorded}) == len(runs) and all(len(r) == 1 for r in recorded)
                assert [r[0].startswith(f"{AVALA_PROJECT}-completed-") for r in recorded] == [True] * len(
                    runs
                )
                continue
            assert sorted(recorded) == sorted([run] for run in runs), f"{dag_id}: {recorded} for ends {runs}"
        # Each poll exports one window; a poll retried, or rerun by the triggerer that took the watcher over,
        # attaches to its window's export by name instead of starting another.
        windows = labels_windows(ends.labelbox)
        assert windows and not exported_twice(windows), f"labels windows exported twice: {sorted(windows)}"
    finally:
        for dag_id in SCHEDULES:
            airflow.api("PATCH", f"dags/{dag_id}", json={"is_paused": True})
    with capsys.disabled():
        print(
            f"\nthree ends each of a Flyte run, a Julep execution, a Labelbox export, an Avala project's "
            f"tasks all done and two Labelbox rows Done: one DAG run each; {', '.join(victims)} "
            f"killed (SIGKILL) and restarted between, the ends meanwhile scheduled {taken_over:.0f} s after the "
            f"kill; {WATCHERS + 1} watchers of one project: {listings} ListRuns in {seconds:.1f} s on "
            f"{len(running)} triggerer(s); {len(windows)} labels exports, no window twice"
        )
