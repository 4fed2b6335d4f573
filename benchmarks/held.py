"""Runs the bench server starts itself, for the real-Airflow mode: the three operators' submit calls, and runs
held running until the harness releases their batch.

A deferring operator submits its run in the worker, so no run id can carry an end time chosen in advance (the
harness cannot know when the last of N tasks defers). Each submit names its batch and the task's index in it
(``<batch>/<index>``: ours in the run's labels, Databricks in ``run_name``, dbt Cloud in the ``cause``); the run
is running until ``POST /_release`` releases the batch, which gives each run of it an end spread over the
window asked for. The release answers every end by index, so end-to-resume latency needs no call per task.

Submit routes (each platform's real path and body shape):

- Flyte: ``TaskService/GetTaskDetails`` (the emulator's ``demo.say_hello``), ``RunService/CreateRun``,
  ``ClusterService/SelectCluster`` (the endpoint itself) and ``DataProxyService/GetActionData`` (its output).
- Databricks: ``POST /api/2.2/jobs/runs/submit`` and ``POST /api/2.2/jobs/run-now``.
- dbt Cloud: ``POST /api/v2/accounts/<account>/jobs/<job>/run/``.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from typing import Any

FLYTE_TASK_DETAILS = "/flyteidl2.task.TaskService/GetTaskDetails"
FLYTE_CREATE_RUN = "/flyteidl2.workflow.RunService/CreateRun"
FLYTE_SELECT_CLUSTER = "/flyteidl2.cluster.ClusterService/SelectCluster"
FLYTE_ACTION_DATA = "/flyteidl2.dataproxy.DataProxyService/GetActionData"
DATABRICKS_SUBMIT = "/api/2.2/jobs/runs/submit"
DATABRICKS_RUN_NOW = "/api/2.2/jobs/run-now"
DBT_TRIGGER_SUFFIX = "/run/"
# Held run ids start here: above every id ``run_id_for`` makes for this century (end ms * 100,000), so
# ``end_of`` is never asked about one.
HELD_ID_BASE = 9 * 10**18
TASK = "demo.say_hello"
SPREAD = (math.sqrt(5) - 1) / 2  # golden-ratio steps spread indexes evenly over the window, in no index order


def tag_of(text: str) -> tuple[str, int] | None:
    """``(batch, index)`` from ``<batch>/<index>``, or None when the text is no bench tag."""
    batch, _, index = text.rpartition("/")
    return (batch, int(index)) if batch and index.isdigit() else None


def offset(index: int, low: float, high: float) -> float:
    """Seconds after the release that run ``index`` of a batch ends."""
    return low + (high - low) * ((index * SPREAD) % 1.0)


class HeldRuns:
    """Runs by id (a Flyte run name or a numeric id as text), with their batch, index and end once released."""

    def __init__(self) -> None:
        self.runs: dict[str, tuple[str, int]] = {}
        self.ends: dict[str, float] = {}
        self.released: dict[str, float] = {}
        self.next_id = HELD_ID_BASE

    def hold(self, tag: tuple[str, int], name: str | None = None) -> str:
        """Hold a new run (``name``: the client's, for Flyte; else a numeric id is made); returns its id."""
        if name is None:
            self.next_id += 1
            name = str(self.next_id)
        self.runs[name] = tag
        return name

    def end(self, run: str) -> float | None:
        """The run's end (``inf`` while its batch is held), or None when it is not a held run."""
        if run not in self.runs:
            return None
        return self.ends.get(run, math.inf)

    def release(self, batch: str, low: float, high: float) -> dict[str, Any]:
        """Start the batch's runs ending: each at ``offset`` after now. Answers the moment and ends by index."""
        now = time.time()
        self.released[batch] = now
        ends = {}
        for run, (held_batch, index) in self.runs.items():
            if held_batch == batch:
                self.ends[run] = ends[index] = now + offset(index, low, high)
        return {"released_at": now, "ends": ends}

    def count(self, batch: str) -> int:
        return sum(1 for held_batch, _ in self.runs.values() if held_batch == batch)


def flyte_task_details(project: str, domain: str, org: str) -> bytes:
    """GetTaskDetailsResponse of the emulator's ``demo.say_hello`` v1 (one string in, one out)."""
    from airflow_remote_tasks.emulators.flyte.tasks import seed_tasks, task_spec

    seed = next(task for task in seed_tasks() if task.name == TASK)
    task_id = {"org": org, "project": project, "domain": domain, "name": seed.name, "version": seed.version}
    details = {
        "taskId": task_id,
        "metadata": {"shortName": seed.name.split(".")[-1], "environmentName": seed.name.split(".")[0]},
        "spec": task_spec(seed, project, domain),
    }
    return _compact({"details": details})


def flyte_action_data() -> bytes:
    """GetActionDataResponse of a succeeded say_hello: its one string output."""
    from airflow_remote_tasks.emulators.flyte.literals import write

    literal = write("hello bench", {"simple": "STRING"})
    return _compact({"outputs": {"literals": [{"name": "o0", "value": literal}]}})


def submit(
    held: HeldRuns, path: str, body: bytes, dbt_body: Callable[[int, int, bool], bytes]
) -> tuple[str, int, bytes] | None:
    """A submit call's (counter name, status, answer), or None when ``path`` is no submit route
    (``dbt_body(account, run, done)``: the dbt Cloud run body the status route answers too)."""
    if path == FLYTE_TASK_DETAILS:
        task_id = json.loads(body)["taskId"]
        return "flyte-submit", 200, flyte_task_details(task_id["project"], task_id["domain"], task_id["org"])
    if path == FLYTE_CREATE_RUN:
        request = json.loads(body)
        labels = request.get("runSpec", {}).get("labels", {}).get("values", {})
        tag = tag_of(labels.get("bench", ""))
        if tag is None:
            return "flyte-submit", 400, b'{"code": "invalid_argument", "message": "no bench label"}'
        held.hold(tag, request["runId"]["name"])
        return (
            "flyte-submit",
            200,
            _compact({"run": {"action": {"id": {"run": request["runId"], "name": "a0"}}}}),
        )
    if path == FLYTE_SELECT_CLUSTER:
        return "flyte-submit", 200, b"{}"  # no cluster endpoint: the data plane is the endpoint itself
    if path == FLYTE_ACTION_DATA:
        return "flyte-submit", 200, flyte_action_data()
    if path in (DATABRICKS_SUBMIT, DATABRICKS_RUN_NOW):
        request = json.loads(body or b"{}")
        tag = tag_of(str(request.get("run_name") or request.get("idempotency_token") or ""))
        if tag is None:
            return "databricks-submit", 400, b'{"error_code": "INVALID_PARAMETER_VALUE"}'
        run_id = int(held.hold(tag))
        return "databricks-submit", 200, _compact({"run_id": run_id, "number_in_job": run_id})
    if path.startswith("/api/v2/accounts/") and "/jobs/" in path and path.endswith(DBT_TRIGGER_SUFFIX):
        tag = tag_of(str(json.loads(body or b"{}").get("cause") or ""))
        if tag is None:
            return "dbt-submit", 400, b'{"status": {"code": 400, "is_success": false}}'
        account = int(path[len("/api/v2/accounts/") :].split("/", maxsplit=1)[0])
        return "dbt-submit", 200, dbt_body(account, int(held.hold(tag)), False)
    return None


def _compact(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()
