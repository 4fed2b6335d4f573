"""What the tests share besides fixtures: paths, the emulators' keys, and connections by environment variable."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"

JULEP_KEY = "jk-SECRET-value-7"
LABELBOX_KEY = "lb-SECRET-key-0042"
AVALA_KEY = "avk_SECRET_key_0099"

TI = SimpleNamespace(dag_id="d", run_id="manual__1", task_id="t", map_index=-1, try_number=1)


def set_connection(conn_id: str, conn_type: str, host: str, password: str, extra: dict[str, object]) -> None:
    """Point an Airflow connection (through its environment variable) at an emulator."""
    conn = {"conn_type": conn_type, "host": host, "password": password, "extra": extra}
    os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(conn)


CLUSTER_DAGS = ROOT / "tests" / "cluster_dags"


# The real Airflow's Flyte connection holds an API key pasted with a trailing newline, as from a password
# manager; every form of its secret and of the tokens it is traded for is looked for in Airflow's logs and
# database at the end (test_real_airflow.py).
CLUSTER_CLIENT_SECRET = "cluster-SECRET-5b7e9d"


def cluster_api_key(url: str) -> str:
    return base64.b64encode(f"{url}:airflow-cluster:{CLUSTER_CLIENT_SECRET}:None".encode()).decode()


def text_of(capfd: Any) -> str:
    """What the test printed so far (stdout and stderr), taken from pytest's ``capfd``."""
    out = capfd.readouterr()
    return out.out + out.err


def assert_nowhere(secret: str, *texts: str) -> None:
    """No form of ``secret`` (as is, escaped, base64, ...) in any of ``texts``; the failure shows none."""
    from airflow_remote_tasks.core.secrets import derived_forms

    for form in derived_forms(secret):
        for text in texts:
            assert form not in text, f"a form of a secret ({len(form)} chars) leaked"


def start_run(task: str, inputs: dict[str, Any], key: str) -> tuple[Any, Any]:
    """A Flyte run started through ``flyte_default``'s hook, as an operator would (``key`` names its task):
    the hook and the run's reference."""
    from airflow_remote_tasks.core.models import RunOrigin
    from airflow_remote_tasks.platforms.flyte.hook import FlyteHook

    hook = FlyteHook("flyte_default")
    platform = hook.platform
    interface = hook.run(platform.resolve_task(task, "latest"))
    ref = hook.run(
        platform.submit(
            interface,
            platform.prepare_inputs(interface, inputs),
            origin=RunOrigin(dag_id="d", run_id="r", task_id=key),
            labels={},
            env={},
        )
    )
    return hook, ref
