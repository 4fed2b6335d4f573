"""Adding a platform is one package and one registry line: the toy platform (tests/platforms/toy_platform, a
declaration, one operations module, a trivial hook and a tiny emulator) shows up in provider info, hook lookup,
the CLI, and a dag.test() run of RemoteTaskOperator; what it does not declare is refused with the capability's
own message."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from support import set_connection

HERE = Path(__file__).resolve().parent


@pytest.fixture
def toy(monkeypatch):
    """The registry with the toy's line added, and the toy importable (here and in subprocesses)."""
    monkeypatch.syspath_prepend(str(HERE))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")])))
    from toy_platform import PLATFORM

    from airflow_remote_tasks import registry

    monkeypatch.setattr(registry, "DECLARATIONS", (*registry.DECLARATIONS, PLATFORM))
    return PLATFORM


@pytest.fixture
def toy_server(toy):
    from toy_platform.emulator import ToyEmulator

    from airflow_remote_tasks.emulators.server import ServerThread

    emulator = ToyEmulator()
    with ServerThread(emulator) as server:
        set_connection("toy_default", "remote_tasks_toy", server.url, "", {})
        yield emulator
    os.environ.pop("AIRFLOW_CONN_TOY_DEFAULT", None)


def test_the_toy_is_in_provider_info_with_its_form_and_hook(toy):
    from airflow_remote_tasks.provider_info import provider_info

    info = provider_info()
    [form] = [c for c in info["connection-types"] if c["connection-type"] == "remote_tasks_toy"]
    assert form["hook-class-name"] == "toy_platform.hook.ToyHook"
    assert form["hook-name"] == "Toy (remote tasks)"
    assert form["ui-field-behaviour"]["relabeling"] == {"host": "Base URL"}
    assert form["ui-field-behaviour"]["hidden-fields"] == ["schema", "login", "password", "extra"]
    assert set(form["conn-fields"]) == {"verify_tls", "ca_bundle", "proxy", "read_timeout", "http2"}
    assert {"integration-name": "Toy", "python-modules": ["toy_platform.hook"]} in info["hooks"]
    assert info["description"].startswith("Run tasks on Flyte 2 / Union, Julep, Labelbox, Avala and Toy from")


def test_a_watcher_on_the_toy_is_refused_when_parsed_as_it_declares_no_events(toy):
    from airflow_remote_tasks import RemoteEventTrigger
    from airflow_remote_tasks.core.errors import ConfigurationError

    with pytest.raises(
        ConfigurationError,
        match=r"Toy cannot fire asset events when remote runs change .*; schedule the DAG on",
    ):
        RemoteEventTrigger("toy_default", "toy", {"task": "echo"}, poll_interval=60)


def test_the_toys_hook_is_found_by_connection_type_name_and_class_name(toy_server):
    import airflow_remote_tasks
    from airflow_remote_tasks.registry import hook_for_connection, hook_for_platform

    hook = hook_for_connection("toy_default")
    assert type(hook).__name__ == "ToyHook" and hook.conn_type == "remote_tasks_toy"
    assert type(hook_for_platform("toy", "toy_default")) is type(hook)
    assert airflow_remote_tasks.ToyHook is type(hook)
    assert hook.test_connection() == (True, "Toy answers, with 0 runs.")


def test_the_cli_serves_the_toys_emulator(toy):
    code = (
        "import sys\n"
        "from toy_platform import PLATFORM\n"
        "from airflow_remote_tasks import registry\n"
        "registry.DECLARATIONS = (*registry.DECLARATIONS, PLATFORM)\n"
        "from airflow_remote_tasks.cli import main\n"
        "sys.exit(main(['emulator', 'toy', '--port', '0']))\n"
    )
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        url = process.stdout.readline().strip()
        assert httpx.get(f"{url}/runs", timeout=10).json() == []
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_a_dag_runs_the_toys_task_and_hands_its_outputs_to_xcom(toy_server, airflow_db, monkeypatch):
    import importlib

    from airflow import settings
    from airflow_helpers import DagResult

    # dag.test() runs DAGs of the DAGs folder: for this test, the toy's
    monkeypatch.setattr(settings, "DAGS_FOLDER", str(HERE / "toy_platform" / "dags"))
    monkeypatch.syspath_prepend(str(HERE / "toy_platform" / "dags"))
    dag = importlib.import_module("toy_dags").dag
    result = DagResult(dag.test())
    assert result.state == "success"
    assert result.xcom("shout") == {"loud": "HI", "task": "shout"}
    assert [run["id"] for run in toy_server.runs.values()] == ["run-1"]
