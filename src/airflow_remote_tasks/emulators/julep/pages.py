"""The page an execution link opens on the emulator: Julep's API documents no such page, so the emulator
serves one at ``/dashboard/executions/<id>`` and ``make demo`` / ``make airflow`` point the connection's
Execution link there (``EXECUTION_LINK``)."""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import Response

from airflow_remote_tasks.emulators.julep.state import JulepState
from airflow_remote_tasks.emulators.server import link_page

PATH = "/dashboard/executions/{execution_id:path}"
# What the emulator's own address is followed by in a connection's Execution link.
EXECUTION_LINK = "/dashboard/executions/{execution_id}"


def execution_page(state: JulepState, request: Request) -> Response:
    """The execution's id, task, status, input and output; 404 for an id the emulator does not hold (an
    encoded ``/`` arrives decoded and so names nothing here)."""
    wanted = str(request.path_params["execution_id"])
    execution = state.executions.get(wanted)
    if execution is None:
        page = link_page("No such execution", {"Execution": wanted})
        return Response(page, status_code=404, media_type="text/html")
    body = execution.to_json()
    task = state.tasks.get(execution.task_id, {})
    facts = {
        "Execution": execution.id,
        "Task": f"{task.get('name', '?')} ({execution.task_id})",
        "Status": body["status"],
        "Input": json.dumps(body["input"], default=str),
        "Output": json.dumps(body["output"], default=str),
        "Error": body["error"] or "",
        "Transitions": body["transition_count"],
        "Created": body["created_at"],
        "Updated": body["updated_at"],
    }
    return Response(link_page(f"Julep execution {execution.id}", facts), media_type="text/html")
