"""Runs on every platform: a run id is checked before any call, and of a submit's requests only the one that
creates the run is marked as starting one."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_remote_tasks.core.errors import ConfigurationError
from airflow_remote_tasks.core.operation import HttpRequest, HttpResponse, Operation
from airflow_remote_tasks.registry import hook_for_connection

pytestmark = [pytest.mark.airflow, pytest.mark.usefixtures("airflow_db")]

TRAVERSAL = "../users/me/projects/p"


@pytest.mark.parametrize("fixture", ["flyte", "julep", "labelbox", "avala"])
def test_a_path_as_run_id_is_refused_before_any_request(fixture, request):
    running = request.getfixturevalue(fixture)
    hook = hook_for_connection(f"{fixture}_default")
    with pytest.raises(ConfigurationError, match=r"run_id='\.\./users/me/projects/p' is not a valid"):
        hook.find_run(TRAVERSAL)
    assert sum(running.emulator.app.calls.values()) == 0


def recorded(operation: Operation[Any], seen: list[HttpRequest]) -> Operation[Any]:
    """``operation``, with every request it sends (after signing) kept in ``seen``."""
    from airflow_remote_tasks.core.operation import relayed

    def exchange(request: HttpRequest) -> Operation[HttpResponse]:
        seen.append(request)
        return (yield request)

    return (yield from relayed(operation, exchange))


# Each platform's job, its inputs, and how its create call is recognised among the submit's requests.
SUBMITS: dict[str, tuple[Any, dict[str, Any], str]] = {
    "flyte": ("demo.say_hello", {"name": "Ada", "n": 1}, "CreateRun"),
    "julep": (None, {"name": "Ada", "times": 1}, "/executions"),
    "labelbox": ("export_project", {"project_id": None}, "exportDataRowsInProject"),
    "avala": ("auto_label", {"project": "proj-001"}, "/auto-label/"),
}


@pytest.mark.parametrize("fixture", list(SUBMITS))
def test_only_the_call_that_creates_the_run_is_marked_as_starting_one(fixture, request):
    from airflow_remote_tasks.core.models import RunOrigin
    from airflow_remote_tasks.registry import hook_for_connection

    running = request.getfixturevalue(fixture)
    task, inputs, create = SUBMITS[fixture]
    if fixture == "julep":
        from airflow_helpers import load_dag

        task = load_dag("j_hello_worker").get_task("remote").task  # its task definition
    if fixture == "labelbox":
        inputs = {"project_id": next(iter(running.emulator.state.projects))}
    hook = hook_for_connection(f"{fixture}_default")
    platform = hook.platform
    interface = hook.run(platform.resolve_task(task, "latest"))
    wire = platform.prepare_inputs(interface, inputs)
    origin = RunOrigin(dag_id="d", run_id="r", task_id="t", map_index=-1, generation=0)
    seen: list[HttpRequest] = []
    hook.run(recorded(platform.submit(interface, wire, origin=origin, labels={}, env={}), seen))
    marked = [r for r in seen if r.starts_run]
    assert len(marked) == 1, [(r.method, r.url, r.starts_run) for r in seen]
    assert create in marked[0].url or create.encode() in (marked[0].content or b"")
