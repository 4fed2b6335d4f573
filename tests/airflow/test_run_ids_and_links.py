"""Flyte and Julep run ids: their forms, ids that cannot leave their URL path segment, and run links that open a
page on the emulator."""

from __future__ import annotations

import time

import httpx
import pytest

from airflow_helpers import run_dag
from airflow_remote_tasks.core.errors import ConfigurationError, RemoteTaskError
from airflow_remote_tasks.core.executors import execute
from airflow_remote_tasks.core.models import RunOrigin, RunRef, run_name
from airflow_remote_tasks.emulators.julep.pages import EXECUTION_LINK
from airflow_remote_tasks.platforms.flyte import PLATFORM as FLYTE
from airflow_remote_tasks.platforms.flyte.config import FlyteConfig
from airflow_remote_tasks.platforms.flyte.platform import FlytePlatform
from airflow_remote_tasks.platforms.julep import PLATFORM as JULEP
from airflow_remote_tasks.platforms.julep.hook import JulepHook

TRAVERSAL = "../users/me/projects/p"
GREET = {"name": "greet", "main": [{"return": {"text": "$ 'hi'"}}]}


@pytest.mark.parametrize(
    "run_id",
    ["rk2x8w4qz7n5m1p9s3t6", "af-3f9c2b7d1e4a5b6c7d8e", run_name("d|r|t|-1|0"), "a", "a" * 30],
)
def test_flyte_takes_real_run_names(run_id):
    assert FLYTE.check_run_id(f" {run_id}\n") == run_id


@pytest.mark.parametrize(
    "run_id", [TRAVERSAL, "Rk2x8w4qz7n5m1p9s3t6", "run_1", "run.1", "run:1", "9abc", "abc-", "a" * 31, ""]
)
def test_flyte_refuses_what_is_not_a_run_name(run_id):
    with pytest.raises(
        ConfigurationError, match=r"run_id=.* is not a valid Flyte 2 / Union run id: expected a run"
    ):
        FLYTE.check_run_id(run_id)


@pytest.mark.parametrize(
    "run_id", ["068306ff-e0f3-7fe9-8000-0013626a759a", "068306FF-E0F3-7FE9-8000-0013626A759A"]
)
def test_julep_takes_execution_uuids(run_id):
    assert JULEP.check_run_id(run_id) == run_id


@pytest.mark.parametrize(
    "run_id",
    [
        TRAVERSAL,
        "068306ff",
        "068306ffe0f37fe980000013626a759a",
        "my-execution",
        "068306ff-e0f3-7fe9-8000-0013626a759g",
    ],
)
def test_julep_refuses_what_is_not_an_execution_uuid(run_id):
    with pytest.raises(ConfigurationError, match=r"expected an execution UUID such as 068306ff-"):
        JULEP.check_run_id(run_id)


def julep_run(julep) -> tuple[JulepHook, RunRef]:
    hook = JulepHook("julep_default")
    interface = hook.run(hook.platform.resolve_task(GREET, "latest"))
    origin = RunOrigin(dag_id="d", run_id="r", task_id="t")
    return hook, hook.run(hook.platform.submit(interface, {}, origin=origin, labels={}, env={}))


def test_julep_run_id_reaches_the_api_as_one_path_segment(julep):
    hook, real = julep_run(julep)
    for _ in range(100):  # until the execution has transitions to read
        if hook.run(hook.platform.progress(real, 0)).lines:
            break
        time.sleep(0.05)
    # Unencoded, the first would read the real execution's transitions ("executions/../executions/<id>").
    for run_id in (f"../executions/{real.run_id}", TRAVERSAL):
        julep.emulator.exchanges.clear()
        with pytest.raises(RemoteTaskError):
            hook.run(hook.platform.progress(RunRef(platform="julep", run_id=run_id), 0))
        [exchange] = julep.emulator.exchanges
        assert exchange["status"] == 404
        encoded = run_id.replace("/", "%2F")
        assert exchange["raw_path"] == f"/api/executions/{encoded}/transitions"


def test_julep_refuses_a_path_as_run_id_before_any_call(julep):
    hook = JulepHook("julep_default")
    with pytest.raises(
        ConfigurationError, match=r"run_id='\.\./users/me/projects/p' is not a valid Julep run id"
    ):
        hook.run(hook.platform.find_run(TRAVERSAL))
    assert julep.emulator.exchanges == []


def test_julep_agent_id_stays_one_path_segment(julep):
    julep.connect(agent_id=TRAVERSAL)
    hook = JulepHook("julep_default")
    with pytest.raises(RemoteTaskError):
        hook.run(hook.platform.resolve_task("greet", "latest"))
    [exchange] = julep.emulator.exchanges
    assert exchange["raw_path"] == "/api/agents/..%2Fusers%2Fme%2Fprojects%2Fp/tasks"
    assert exchange["status"] == 404


def test_flyte_run_link_names_one_run_only(flyte):
    platform = FlytePlatform(FlyteConfig(endpoint=flyte.url))
    interface = execute(platform.resolve_task("demo.say_hello", "latest"), httpx.Client())
    wire = platform.prepare_inputs(interface, {"name": "Ada", "n": 1})
    origin = RunOrigin(dag_id="d", run_id="r", task_id="t")
    ref = execute(platform.submit(interface, wire, origin=origin, labels={}, env={}), httpx.Client())
    assert httpx.get(ref.url).status_code == 200
    # Unencoded, ".../runs/../runs/<name>" is the real run's page once the client resolves the dots.
    for name in (f"../runs/{ref.run_id}", TRAVERSAL):
        url = platform.config.run_url("flytesnacks", "development", name)
        page = httpx.get(url)
        assert page.status_code == 404 and "No such run" in page.text
        assert url.endswith("/runs/" + name.replace("/", "%2F"))


def test_flyte_run_link_refuses_dot_segments():
    with pytest.raises(ConfigurationError, match="each a name of its own"):
        FlyteConfig(endpoint="http://localhost:30080").run_url("..", "development", "r1")


@pytest.mark.usefixtures("airflow_db")
@pytest.mark.parametrize("mode", ["worker", "deferred"])
def test_flyte_run_link_opens_the_run_page(flyte, mode):
    result = run_dag(f"t_hello_{mode}")
    assert result.state == "success"
    [run] = flyte.runs
    page = httpx.get(result.xcom("remote", "run_url"))
    assert page.status_code == 200
    assert f"<title>Flyte run {run['name']}</title>" in page.text
    assert "ACTION_PHASE_SUCCEEDED" in page.text and "demo.say_hello" in page.text


@pytest.mark.usefixtures("airflow_db")
@pytest.mark.parametrize("mode", ["worker", "deferred"])
def test_julep_run_link_opens_the_execution_page(julep, mode):
    julep.connect(execution_link=julep.server.url + EXECUTION_LINK)
    result = run_dag(f"j_hello_{mode}")
    assert result.state == "success"
    run_id = result.xcom("remote", "run_id")
    url = result.xcom("remote", "run_url")
    assert url == f"{julep.server.url}/dashboard/executions/{run_id}"
    page = httpx.get(url)
    assert page.status_code == 200
    assert f"<title>Julep execution {run_id}</title>" in page.text
    assert "succeeded" in page.text and "greet" in page.text
    assert httpx.get(url.replace(run_id, TRAVERSAL.replace("/", "%2F"))).status_code == 404


def test_julep_runs_have_no_link_without_an_execution_link(julep):
    _, ref = julep_run(julep)
    assert ref.url == ""


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("dashboard.example.com/executions/{execution_id}", "it is not an http(s) URL"),
        (
            "https://d.example.com/executions/{run_id}",
            "it names {run_id}, and only {execution_id} and {task_id}",
        ),
        ("https://d.example.com/tasks/{task_id}", "it does not name {execution_id}"),
        ("https://d.example.com/executions/{execution_id", "it is not a template"),
    ],
)
def test_a_wrong_execution_link_says_what_to_change(julep, template, problem):
    julep.connect(execution_link=template)
    with pytest.raises(ConfigurationError, match="has Execution link") as raised:
        JulepHook("julep_default").platform  # noqa: B018
    assert problem in str(raised.value)
    assert "Example: https://dashboard.example.com/executions/{execution_id}" in str(raised.value)


def test_execution_link_encodes_its_ids():
    from airflow_remote_tasks.platforms.julep.config import JulepConfig

    config = JulepConfig(
        base_url="http://j/api", api_key=None, execution_link="https://d/{task_id}/e/{execution_id}"
    )  # type: ignore[arg-type]
    assert config.execution_url("a/b", "t?1") == "https://d/t%3F1/e/a%2Fb"
