"""The Flyte connection's test: a real authenticated call, and proof that Flyte answered it."""

from __future__ import annotations

import json

from airflow_remote_tasks.core.errors import NotFoundError
from airflow_remote_tasks.core.operation import Operation
from airflow_remote_tasks.platforms.flyte import connect
from airflow_remote_tasks.platforms.flyte.api import RUN_SERVICE, TASK_SERVICE, FlyteApi

# A run name the connection test looks up to see Connect's not_found: RunOrigin.run_name never makes it (its names are
# "af-" and hex digits), nor does the server ("r" and 19 characters).
PROBE_RUN = "airflow-connection-check"


def check_connection(api: FlyteApi) -> Operation[str]:
    """ListTasks in the connection's project; when it lists none, also a run that cannot exist.

    :raises UnexpectedAnswerError: when the answers are not Flyte's (a server that answers any call with
        the same JSON), naming the URL that answered.
    :raises RemoteTaskError: what the calls raise (refused credentials, an unknown project, ...).
    """
    c = api.config
    method = f"{TASK_SERVICE}/ListTasks"
    body = yield from api.call(method, {"projectId": api.project_id, "request": {"limit": 1}})
    tasks = body.get("tasks")
    if tasks:
        if not isinstance(tasks, list) or not all(
            isinstance(task, dict) and isinstance(task.get("taskId"), dict) for task in tasks
        ):
            raise connect.not_an_answer(f"{c.endpoint}/{method}", _sample(body), "tasks without a taskId")
        return (
            f"Connected to Flyte at {c.endpoint}: project {c.project}/{c.domain} answers, tasks are deployed."
        )
    # No tasks is "{}" (proto3 JSON leaves empty fields out), which any server may answer to anything: a run
    # that cannot exist must then be refused in Connect's words.
    method = f"{RUN_SERVICE}/GetRunDetails"
    try:
        probe = yield from api.call(method, {"runId": api.run_id(api.ref_for(PROBE_RUN))})
    except NotFoundError:
        return (
            f"Connected to Flyte at {c.endpoint}: project {c.project}/{c.domain} answers, no tasks are "
            "deployed yet."
        )
    if not isinstance(probe.get("details", {}).get("action"), dict):
        raise connect.not_an_answer(
            f"{c.endpoint}/{method}", _sample(probe), "a run lookup answered without run details"
        )
    return f"Connected to Flyte at {c.endpoint}: project {c.project}/{c.domain} answers."


def _sample(body: object) -> str:
    return json.dumps(body, separators=(",", ":"), default=str)[:200]
