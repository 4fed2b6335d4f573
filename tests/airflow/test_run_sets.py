"""Waiting on a whole set of runs selected by the platform's filters (RemoteRunsSensor), on Flyte."""

from __future__ import annotations

import asyncio

import pytest

from airflow_helpers import run_dag
from airflow_remote_tasks.core.models import RunOrigin
from airflow_remote_tasks.core.transport import close_shared_clients
from airflow_remote_tasks.platforms.flyte.hook import FlyteHook
from airflow_remote_tasks.triggers.remote_runs import RemoteRunsTrigger
from support import text_of

pytestmark = [pytest.mark.airflow, pytest.mark.usefixtures("airflow_db")]


def start(task: str, inputs: dict, key: str, labels: dict[str, str]) -> str:
    hook = FlyteHook("flyte_default")
    platform = hook.platform
    interface = hook.run(platform.resolve_task(task, "latest"))
    wire = platform.prepare_inputs(interface, inputs)
    origin = RunOrigin(dag_id="set", run_id="r", task_id=key)
    return hook.run(platform.submit(interface, wire, origin=origin, labels=labels, env={})).run_id


@pytest.fixture
def union_flyte(flyte):
    """A Flyte emulator that filters runs by label, as Union is said to (unverified)."""
    flyte.emulator.services.label_filters = True
    return flyte


def test_waits_until_every_labelled_run_succeeded(union_flyte, capfd):
    for i in range(3):
        start("demo.sleep", {"seconds": 0.5 + i * 0.3}, f"vision-{i}", {"team": "vision"})
    start("demo.fail", {}, "other-team", {"team": "audio"})  # not selected
    result = run_dag("t_runs_label")
    assert result.state == "success"
    for mode in ("deferred", "poke"):
        summary = result.xcom(f"runs_{mode}")
        assert (
            summary["counts"] == {"succeeded": 3} and summary["total"] == 3 and len(summary["run_ids"]) == 3
        )
    text = text_of(capfd)
    assert "3/3 succeeded" in text  # counts by phase, not a line per run


def test_a_failed_run_fails_the_wait_unless_told_otherwise(union_flyte, capfd):
    start("demo.say_hello", {"name": "a"}, "ok", {"team": "vision"})
    start("demo.fail", {"message": "broken"}, "bad", {"team": "vision"})
    result = run_dag("t_runs_label")
    assert result.task_state("runs_poke") == "failed" and result.task_state("runs_deferred") == "failed"
    assert "1 of the 2 runs selected by" in text_of(capfd)
    result = run_dag("t_runs_keep")
    assert result.state == "success"
    assert result.xcom("runs_poke")["counts"] == {"succeeded": 1, "failed": 1}


def test_a_server_that_cannot_filter_by_label_says_so(flyte, capfd):
    start("demo.say_hello", {"name": "a"}, "ok", {"team": "vision"})
    result = run_dag("t_runs_label")  # the emulator answers as open-source Flyte does
    assert result.task_state("runs_poke") == "failed"
    text = text_of(capfd)
    assert "does not filter runs by label" in text and "Select the runs by 'task_name'" in text


def test_select_by_task_name_and_an_unknown_field(flyte, capfd):
    start("demo.say_hello", {"name": "a"}, "one", {})
    start("demo.say_hello", {"name": "b"}, "two", {})
    assert run_dag("t_runs_task").xcom("runs_poke")["total"] == 2
    result = run_dag("t_runs_typo")
    assert result.task_state("runs_poke") == "failed" and result.try_number("runs_poke") == 1
    assert (
        "Flyte run selectors take project, domain, task_name, labels; 'task' is not one of them"
        in text_of(capfd)
    )


def test_one_listing_per_selector_per_poll_however_many_wait(union_flyte):
    for i in range(4):
        start("demo.sleep", {"seconds": 1.5}, f"shared-{i}", {"team": "vision"})
    before = union_flyte.emulator.app.calls.get("/flyteidl2.workflow.RunService/ListRuns", 0)

    async def scenario() -> list[list[dict]]:
        triggers = [
            RemoteRunsTrigger(
                conn_id="flyte_default",
                platform="flyte",
                selector={"labels": {"team": "vision"}},
                target_phases=["succeeded"],
                poll_interval=0.5,
            )
            for _ in range(50)
        ]

        async def events(trigger: RemoteRunsTrigger) -> list[dict]:
            return [event.payload async for event in trigger.run()]

        results = await asyncio.gather(*(events(t) for t in triggers))
        await close_shared_clients()
        return results

    results = asyncio.run(scenario())
    assert all(r[0]["outcome"] == "reached" and r[0]["total"] == 4 for r in results)
    listings = union_flyte.emulator.app.calls["/flyteidl2.workflow.RunService/ListRuns"] - before
    assert listings <= 10, f"{listings} listings for 50 waits of a few polls each"  # not 50 per poll


def test_platforms_without_a_set_listing_say_why(julep):
    from airflow_remote_tasks import RemoteRunsSensor
    from airflow_remote_tasks.core.errors import ConfigurationError

    sensor = RemoteRunsSensor(task_id="s", conn_id="julep_default", select={"task": "x"})
    with pytest.raises(ConfigurationError, match="Julep lists executions per task"):
        sensor._selector()


def test_the_selector_is_checked_once_per_execute_not_at_every_poke(union_flyte, monkeypatch):
    from airflow_remote_tasks import RemoteRunsSensor

    start("demo.say_hello", {"name": "a"}, "checked", {"team": "vision"})
    platform_class = type(FlyteHook("flyte_default").platform)
    checks, pokes = [], []
    check, poke = platform_class.check_selector, RemoteRunsSensor.poke

    def counted_check(self, select):
        checks.append(select)
        return check(self, select)

    def counted_poke(self, context):
        if not pokes:  # a run joins the set as the first poke begins: a few pokes see it going
            start("demo.sleep", {"seconds": 1.0}, "joins", {"team": "vision"})
        pokes.append(self.task_id)
        return poke(self, context)

    monkeypatch.setattr(platform_class, "check_selector", counted_check)
    monkeypatch.setattr(RemoteRunsSensor, "poke", counted_poke)
    result = run_dag("t_runs_label")
    assert result.state == "success"
    assert pokes.count("runs_poke") >= 2  # the runs take a few polls
    # each sensor's execute checks it once, and the deferred one's trigger once more (the triggerer's own)
    assert len(checks) == 3, checks
