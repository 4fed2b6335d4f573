"""Canned Labelbox answers and what the replay tests read of the requests sent: shared by the replay tests."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import httpx
from pydantic import SecretStr

from airflow_remote_tasks.core.models import RunOrigin, RunRef
from airflow_remote_tasks.core.replay import Replay, Reply, reply
from airflow_remote_tasks.platforms.labelbox.config import LabelboxConfig
from airflow_remote_tasks.platforms.labelbox.jobs import task_name
from airflow_remote_tasks.platforms.labelbox.platform import LabelboxPlatform
from support import LABELBOX_KEY

API = "https://lb.example/graphql"
APP = "https://app.example"
PROJECT = "ckproj0000000000000000001"
DATASET = "ckds000000000000000000001"
TASK = "cktask00000000000000000001"
ORIGIN = RunOrigin(dag_id="d", run_id="manual__1", task_id="t")
NAME = task_name(ORIGIN)
USER = {"user": {"id": "ckuser1", "name": "Ada", "email": "ada@example.com"}}
ROWS = [
    {"global_key": "a.jpg", "row_data": "https://b/a.jpg"},
    {"global_key": "b.jpg", "row_data": "https://b/b.jpg"},
]
LABEL = {
    "name": "car",
    "dataRow": {"globalKey": "a.jpg"},
    "bbox": {"top": 1, "left": 2, "height": 3, "width": 4},
}


def platform(open_uri: Callable[[str], Any] | None = None) -> LabelboxPlatform:
    return LabelboxPlatform(
        LabelboxConfig(endpoint=API, api_key=SecretStr(LABELBOX_KEY), app_url=APP), open_uri=open_uri
    )


def data(value: dict[str, Any]) -> Reply:
    return reply(json={"data": value})


def graphql_error(code: str, message: str = "m", **extensions: Any) -> Reply:
    return reply(
        json={"data": None, "errors": [{"message": message, "extensions": {"code": code, **extensions}}]}
    )


def operation_of(request: httpx.Request) -> str:
    """The GraphQL operation a request carries (a JSON body, or a multipart one's ``operations`` part)."""
    found = re.search(rb"\b(?:query|mutation)\s+(\w+)", request.content[:4000])
    return found.group(1).decode() if found else f"{request.method} {request.url}"


def names(replay: Replay) -> list[str]:
    return [operation_of(r) for r in replay.requests]


def routed(routes: dict[str, list[Reply]]) -> Callable[[httpx.Request], Reply]:
    """Answers by operation name, each name's in order; an operation with none left fails the test."""

    def reply_to(request: httpx.Request) -> Reply:
        name = operation_of(request)
        assert routes.get(name), f"no canned answer left for {name}"
        return routes[name].pop(0)

    return reply_to


def variables(request: httpx.Request) -> dict[str, Any]:
    if request.headers["content-type"].startswith("multipart/"):
        part = request.content.split(b"\r\n\r\n", 1)[1].split(b"\r\n", 1)[0]
        return dict(json.loads(part)["variables"])
    return dict(json.loads(request.content)["variables"] or {})


def submit(lb: LabelboxPlatform, replay: Replay, kind: str, inputs: dict[str, Any]) -> RunRef:
    interface = replay.run(lb.resolve_task(kind, "latest"))
    job = lb.prepare_inputs(interface, inputs)
    return replay.run(lb.submit(interface, job, origin=ORIGIN, labels={}, env={}), platform=lb)


def task(status: str = "IN_PROGRESS", kind: str = "export-data-rows", **fields: Any) -> dict[str, Any]:
    return {"id": TASK, "name": NAME, "status": status, "type": kind, **fields}


def user_task(*tasks: dict[str, Any]) -> Reply:
    return data({"user": {"createdTasks": list(tasks)}})


def exists() -> dict[str, list[Reply]]:
    """The answers before an export's lookup: the project is there, and the key's user."""
    return {"GetProjectPyApi": [data({"project": {"id": PROJECT}})], "GetUserPyApi": [data(USER)]}


# An import as Labelbox answers it, just created.
IMPORT = {"id": "ckimport1", "name": NAME, "state": "RUNNING", "progress": "0%"}
