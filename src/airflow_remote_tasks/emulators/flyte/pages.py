"""The page a run link opens on the emulator, as Flyte's console would show the run."""

from __future__ import annotations

import json
from urllib.parse import unquote

from airflow_remote_tasks.emulators.flyte.state import FlyteState
from airflow_remote_tasks.emulators.server import Scope, Send, link_page, send_bytes

CONSOLE_PREFIX = "/v2/domain/"  # where the console's run pages start


async def console_page(state: FlyteState, scope: Scope, send: Send) -> None:
    """The page a run link opens (``/v2/domain/<d>/project/<p>/runs/<name>``), as a console would. Read from
    the raw path, one percent-decoded segment at a time: an encoded ``/`` stays inside its name."""
    raw = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
    parts = [unquote(part) for part in raw.strip("/").split("/")]
    run = None
    if len(parts) == 7 and parts[3] == "project" and parts[5] == "runs":
        run = state.runs.get((parts[4], parts[2], parts[6]))
    if run is None:
        await send_bytes(send, 404, "text/html; charset=utf-8", link_page("No such run", {"Path": raw}))
        return
    facts = {
        "Run": run.name,
        "Project / domain": f"{run.project} / {run.domain}",
        "Task": f"{run.task.name} ({run.task.version})",
        "Phase": run.phase(),
        "Inputs": json.dumps(run.inputs, default=str),
        "Error": str(run.failure or run.abort_reason or ""),
        "Log": "\n".join(run.visible_logs()),
    }
    page = link_page(f"Flyte run {run.name}", facts)
    await send_bytes(send, 200, "text/html; charset=utf-8", page)
