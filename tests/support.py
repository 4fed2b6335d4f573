"""What the tests share besides fixtures: paths, the emulators' keys, and connections by environment variable."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from types import SimpleNamespace

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
