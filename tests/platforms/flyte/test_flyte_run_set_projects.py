"""A Flyte set wait on a project or domain that does not exist fails at its first poll, naming it: ListRuns
answers an unknown project with an empty list, so the platform looks the project up (ProjectService/GetProject)
before its first listing and again whenever a listing is empty, never when it lists runs."""

from __future__ import annotations

import threading
import time

import pytest

from airflow_helpers import run_dag
from airflow_remote_tasks.core.errors import NotFoundError
from airflow_remote_tasks.core.models import RunOrigin
from airflow_remote_tasks.platforms.flyte.hook import FlyteHook
from support import text_of

GET_PROJECT = "/flyteidl2.project.ProjectService/GetProject"
LIST_RUNS = "/flyteidl2.workflow.RunService/ListRuns"
TYPO = {"project": "no-such-project-typo", "task_name": "demo.stats"}


def start_stats(hook: FlyteHook) -> None:
    platform = hook.platform
    interface = hook.run(platform.resolve_task("demo.stats", "latest"))
    wire = platform.prepare_inputs(interface, {"values": [1.0, 2.0]})
    origin = RunOrigin(dag_id="set", run_id="r", task_id="stats")
    hook.run(platform.submit(interface, wire, origin=origin, labels={}, env={}))


def test_a_missing_project_is_named_before_anything_is_listed(flyte):
    hook = FlyteHook("flyte_default")
    with pytest.raises(NotFoundError) as raised:
        hook.run(hook.platform.list_runs(TYPO))
    assert "There is no Flyte project 'no-such-project-typo' (the selector's 'project')" in str(raised.value)
    assert LIST_RUNS not in flyte.emulator.app.calls


@pytest.mark.parametrize(
    ("selector", "named"),
    [({"domain": "dev"}, "the selector's 'domain'"), ({}, "the connection's Domain")],
)
def test_a_missing_domain_is_named_with_the_project_s_domains(flyte, selector, named):
    if not selector:
        flyte.connect(domain="dev")
    hook = FlyteHook("flyte_default")
    with pytest.raises(NotFoundError) as raised:
        hook.run(hook.platform.list_runs({**selector, "task_name": "demo.stats"}))
    assert (
        f"Flyte project 'flytesnacks' has no domain 'dev' ({named}); its domains are development, staging, "
        "production." in str(raised.value)
    )


def test_the_project_is_looked_up_once_while_listings_find_runs_and_again_when_one_is_empty(flyte):
    hook = FlyteHook("flyte_default")
    calls = flyte.emulator.app.calls
    selector = {"task_name": "demo.stats"}
    start_stats(hook)
    for _ in range(3):
        assert len(hook.run(hook.platform.list_runs(selector))) == 1
    assert (calls[GET_PROJECT], calls[LIST_RUNS]) == (1, 3)  # measured: no lookup after the first listing
    assert hook.run(hook.platform.list_runs({"task_name": "demo.say_hello"})) == []
    assert (calls[GET_PROJECT], calls[LIST_RUNS]) == (2, 4)  # a new selector's project: looked up first
    assert hook.run(hook.platform.list_runs({"task_name": "demo.say_hello"})) == []
    assert (calls[GET_PROJECT], calls[LIST_RUNS]) == (3, 5)  # empty again: is the project still there?


def test_a_server_without_the_project_service_lists_as_before(flyte):
    del flyte.emulator.routes["/flyteidl2.project.ProjectService"]  # it answers unimplemented, as OSS might
    hook = FlyteHook("flyte_default")
    assert hook.run(hook.platform.list_runs(TYPO)) == []
    assert flyte.emulator.app.calls[GET_PROJECT] == 1


@pytest.mark.airflow
@pytest.mark.usefixtures("airflow_db")
@pytest.mark.parametrize(
    ("dag_id", "named"),
    [
        ("t_runs_no_project", "There is no Flyte project 'no-such-project-typo' (the selector's 'project')"),
        ("t_runs_no_domain", "Flyte project 'flytesnacks' has no domain 'dev' (the selector's 'domain')"),
    ],
)
def test_the_sensor_fails_at_the_first_poll_without_its_retry(flyte, capfd, dag_id, named):
    result = run_dag(dag_id)
    for task_id in ("runs_poke", "runs_deferred"):
        assert result.task_state(task_id) == "failed"
        assert result.try_number(task_id) == 1  # permanent: its retry was not used
    assert text_of(capfd).count(named) >= 2
    assert LIST_RUNS not in flyte.emulator.app.calls  # nothing was listed, nothing waited on


@pytest.mark.airflow
@pytest.mark.usefixtures("airflow_db")
def test_a_waiting_sensor_looks_the_project_up_once_however_many_polls(flyte):
    hook = FlyteHook("flyte_default")
    platform = hook.platform
    interface = hook.run(platform.resolve_task("demo.say_hello", "latest"))
    for key in ("one", "two"):
        wire = platform.prepare_inputs(interface, {"name": key})
        origin = RunOrigin(dag_id="set", run_id="r", task_id=key)
        hook.run(platform.submit(interface, wire, origin=origin, labels={}, env={}))
    runs = list(flyte.emulator.state.runs.values())
    for run in runs:
        run.run_seconds = 600.0  # running until several listings have seen them

    def end_after_listings() -> None:
        deadline = time.time() + 60
        while flyte.emulator.app.calls[LIST_RUNS] < 6 and time.time() < deadline:
            time.sleep(0.02)
        for run in runs:
            run.run_seconds = time.time() - run.created - run.queue_seconds

    threading.Thread(target=end_after_listings, daemon=True).start()
    result = run_dag("t_runs_task")  # its poking and its deferred sensor wait until both succeed
    assert result.xcom("runs_poke")["total"] == 2
    calls = flyte.emulator.app.calls
    # measured: one lookup (both sensors share the connection's platform), however many listings
    assert calls[GET_PROJECT] == 1 and calls[LIST_RUNS] >= 6, (calls[GET_PROJECT], calls[LIST_RUNS])
