"""Lineage through OpenLineage: the events of real dag.test() runs against the emulators hold the remote run's
facets and datasets, and the remote runs carry the Airflow task run's OpenLineage identity.

The provider's listener is registered for each test with OpenLineage's file transport, which writes every event
to a file; outside these tests OpenLineage stays off (the provider reads its configuration once, at first use,
so the test clears what it read before and after). dag.test() runs only DAGs a bundle holds: the DAGs below
are put in a bundle of their own, one file in a temporary folder."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
NAMESPACE = "remote-tasks-lineage"
START = datetime(2026, 1, 1)
LB_PROJECT, LB_DATASET = "ckproj0000000000000000001", "ckds000000000000000000001"
AV_PROJECT = "proj-001"
# Its job name ("<dag>.remote") is longer than a Flyte label value may be (63 characters).
LONG_DAG = "ol_flyte_with_a_dag_id_long_enough_that_its_job_name_is_no_label_value"
# Kubernetes' rules for label keys (without a prefix) and values, which Flyte's run labels follow.
K8S_LABEL = r"([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?"
GREET = {
    "name": "greet",
    "input_schema": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]},
    "main": [{"return": {"text": "$ f'Hello, {steps[0].input.name}!'"}}],
}

pytestmark = [pytest.mark.airflow, pytest.mark.usefixtures("airflow_db")]


# -- the DAGs ------------------------------------------------


def dags(out: Path, rows: Path) -> dict[str, Any]:
    from airflow.sdk import DAG

    from airflow_remote_tasks.operators.remote_task import RemoteTaskOperator as op

    jobs: dict[str, dict[str, Any]] = {
        "ol_flyte": {
            "task": "demo.say_hello",
            "inputs": {"name": "Lineage", "n": 2},
            "output_path": f"{out}/hello.json",
        },
        "ol_flyte_deferred": {
            "task": "demo.say_hello",
            "inputs": {"name": "Later", "n": 1},
            "deferrable": True,
        },
        LONG_DAG: {"task": "demo.say_hello", "inputs": {"name": "Long", "n": 1}},
        "ol_flyte_fail": {
            "task": "demo.fail",
            "inputs": {"message": "disk full"},
            "output_path": f"{out}/never.json",
        },
        "ol_julep": {"conn_id": "julep_default", "task": GREET, "inputs": {"name": "Lineage"}},
        "ol_lb_export": {
            "conn_id": "labelbox_default",
            "task": "export_project",
            "inputs": {"project_id": LB_PROJECT},
            "output_path": f"file://{out}/labels.ndjson",
        },
        "ol_lb_upsert": {
            "conn_id": "labelbox_default",
            "task": "upsert_data_rows",
            "inputs": {"dataset_id": LB_DATASET, "rows": f"file://{rows}"},
        },
        "ol_av_autolabel": {
            "conn_id": "avala_default",
            "task": "auto_label",
            "inputs": {"project": AV_PROJECT, "model_type": "yolo", "confidence_threshold": 0.5},
        },
    }
    found = {}
    for dag_id, job in jobs.items():
        with DAG(dag_id, start_date=START, schedule=None, catchup=False) as dag:
            op(
                task_id="remote",
                conn_id=job.pop("conn_id", "flyte_default"),
                poll_interval=0.2,
                retries=0,
                retry_delay=timedelta(0),
                **job,
            )
        found[dag_id] = dag
    return found


LOCAL_BUNDLE = "airflow.dag_processing.bundles.local.LocalDagBundle"
DAG_FILE = """# The airflow DAGs of test_lineage.py.
import sys
from pathlib import Path

sys.path.insert(0, {tests!r})
from test_lineage import dags

globals().update(dags(Path({out!r}), Path({rows!r})))
"""

# -- the tests ------------------------------------------------------------------------------------------------


class Events:
    """The OpenLineage events that dag.test() runs sent."""

    def __init__(self, path: Path) -> None:
        self.all = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def of_task(self, dag_id: str, event_type: str) -> dict[str, Any]:
        found = [
            e for e in self.all if e["job"]["name"] == f"{dag_id}.remote" and e["eventType"] == event_type
        ]
        assert len(found) == 1, (dag_id, event_type, [e["eventType"] for e in self.all])
        return found[0]


def forget_openlineage_config() -> None:
    """The provider keeps what it read of its configuration (functools caches): read it anew."""
    from airflow.providers.openlineage import conf

    for value in vars(conf).values():
        if callable(getattr(value, "cache_clear", None)):
            value.cache_clear()


@pytest.fixture
def run_lineage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Events]]:
    """Runs DAGs of :func:`dags` with dag.test() and OpenLineage on; answers the events they sent."""
    from airflow.providers.openlineage.plugins.listener import OpenLineageListener
    from airflow.sdk.listener import get_listener_manager

    # Loads the plugins now if nothing did yet, while OpenLineage is off: the provider's plugin then registers
    # no listener of its own, and the one below is the only one.
    manager = get_listener_manager()
    events, folder = tmp_path / "events.ndjson", tmp_path / "dags"
    folder.mkdir()
    transport = {"type": "file", "log_file_path": str(events), "append": True}
    monkeypatch.setenv("AIRFLOW__OPENLINEAGE__TRANSPORT", json.dumps(transport))
    monkeypatch.setenv("AIRFLOW__OPENLINEAGE__NAMESPACE", NAMESPACE)
    # In a thread of this process rather than a fork of it (the default), which would copy the emulators'
    # threads mid-request: the facets are read from the operator in both.
    monkeypatch.setenv("AIRFLOW__OPENLINEAGE__EXECUTE_IN_THREAD", "True")
    bundles = [
        {
            "name": "lineage-tests",
            "classpath": LOCAL_BUNDLE,
            "kwargs": {"path": str(folder), "refresh_interval": 0},
        },
        {"name": "dags-folder", "classpath": LOCAL_BUNDLE, "kwargs": {}},
    ]
    monkeypatch.setenv("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST", json.dumps(bundles))
    forget_openlineage_config()
    listener = OpenLineageListener()
    manager.add_listener(listener)

    def run(*dag_ids: str, rows: Path | None = None) -> Events:
        rows = rows or tmp_path / "rows.ndjson"
        (folder / "lineage_dags.py").write_text(
            DAG_FILE.format(tests=str(HERE), out=str(tmp_path), rows=str(rows))
        )
        found = dags(tmp_path, rows)
        for dag_id in dag_ids:
            found[dag_id].test()
        assert events.exists()
        return Events(events)

    yield run
    manager.pm.unregister(listener)
    monkeypatch.undo()
    forget_openlineage_config()


def facets(event: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    return event["job"]["facets"], event["run"]["facets"]


def datasets(event: dict[str, Any], side: str) -> list[tuple[str, str]]:
    return [(d["namespace"], d["name"]) for d in event[side]]


def test_flyte_runs_carry_the_task_runs_identity_and_report_their_run_and_output_file(
    flyte, tmp_path, run_lineage
):
    events = run_lineage("ol_flyte", "ol_flyte_deferred", "ol_flyte_fail", LONG_DAG)

    done = events.of_task("ol_flyte", "COMPLETE")
    job, run = facets(done)
    assert job["remoteTask"]["platform"] == "flyte" and job["remoteTask"]["task"] == "demo.say_hello"
    (flyte_run,) = [r for r in flyte.runs if r["inputs"] and "Lineage" in json.dumps(r["inputs"])]
    assert run["remoteRun"]["runId"] == flyte_run["name"]
    assert run["remoteRun"]["url"].startswith(flyte.url) and flyte_run["name"] in run["remoteRun"]["url"]
    assert run["remoteRun"]["scope"]["project"] == flyte_run["project"]
    assert run["externalQuery"] == {
        **run["externalQuery"],
        "externalQueryId": flyte_run["name"],
        "source": "flyte",
    }
    # The task, named as the converter of its asset URI flyte://<host>/<project>/<domain>/<task> names it, so a
    # DAG scheduled on that asset joins; and the file, as Airflow's converter names file:// assets.
    host = flyte.url.split("://")[1]
    assert datasets(done, "outputs") == [
        (f"flyte://{host}", f"{flyte_run['project']}/{flyte_run['domain']}/demo.say_hello"),
        ("file", f"{tmp_path}/hello.json"),
    ]
    assert datasets(done, "inputs") == []

    # The Flyte run names its parent: this task run, and the DAG run above it, as the events name them.
    labels = flyte_run["labels"]
    assert labels["created-by"] == "airflow"
    assert labels["openlineage-parent-run-id"] == done["run"]["runId"]
    assert labels["openlineage-parent-job"] == "ol_flyte.remote"
    assert labels["openlineage-parent-namespace"] == NAMESPACE == done["job"]["namespace"]
    assert labels["openlineage-root-parent-run-id"] == run["parent"]["run"]["runId"]
    assert labels["openlineage-root-parent-job"] == "ol_flyte"
    assert uuid.UUID(labels["openlineage-parent-run-id"]).version == 7

    # Deferred: the wait comes back in a new operator object, which still knows its run.
    later = events.of_task("ol_flyte_deferred", "COMPLETE")
    (later_run,) = [r for r in flyte.runs if "Later" in json.dumps(r["inputs"])]
    assert facets(later)[1]["remoteRun"]["runId"] == later_run["name"]
    assert later_run["labels"]["openlineage-parent-run-id"] == later["run"]["runId"]

    # A job name no label value can hold is left out; the run ids, which lineage joins on, are there.
    (long_run,) = [r for r in flyte.runs if "Long" in json.dumps(r["inputs"])]
    assert len(f"{LONG_DAG}.remote") > 63
    assert "openlineage-parent-job" not in long_run["labels"]
    assert "openlineage-root-parent-job" not in long_run["labels"]
    assert (
        long_run["labels"]["openlineage-parent-run-id"]
        == events.of_task(LONG_DAG, "COMPLETE")["run"]["runId"]
    )
    for labels in (r["labels"] for r in flyte.runs):
        assert all(re.fullmatch(K8S_LABEL, k) and re.fullmatch(K8S_LABEL, v) for k, v in labels.items()), (
            labels
        )

    # A failed run: its facets, and no output file (output_path is left as it was).
    failed = events.of_task("ol_flyte_fail", "FAIL")
    (failed_run,) = [r for r in flyte.runs if r["task"] == "demo.fail"]
    assert facets(failed)[1]["remoteRun"]["runId"] == failed_run["name"]
    assert facets(failed)[0]["remoteTask"]["task"] == "demo.fail"
    assert datasets(failed, "outputs") == [] and not (tmp_path / "never.json").exists()


def test_julep_executions_carry_the_identity_in_their_metadata(julep, run_lineage):
    events = run_lineage("ol_julep")
    done = events.of_task("ol_julep", "COMPLETE")
    (execution,) = julep.emulator.state.executions.values()
    assert facets(done)[1]["remoteRun"]["runId"] == execution.id
    assert facets(done)[0]["remoteTask"] == {
        **facets(done)[0]["remoteTask"],
        "platform": "julep",
        "task": "greet",
    }
    assert execution.metadata["openlineage-parent-run-id"] == done["run"]["runId"]
    assert execution.metadata["openlineage-root-parent-job"] == "ol_julep"
    host = julep.url.split("://")[1].split("/")[0]
    assert datasets(done, "outputs") == [(f"julep://{host}", f"tasks/{execution.task_id}")]


def test_labelbox_and_avala_runs_name_the_projects_datasets_and_files_they_read_and_write(
    labelbox, avala, tmp_path, run_lineage
):
    rows = tmp_path / "rows.ndjson"
    rows.write_text(json.dumps({"global_key": "ol-1", "row_data": "https://x/1.jpg"}) + "\n")
    events = run_lineage("ol_lb_export", "ol_lb_upsert", "ol_av_autolabel", rows=rows)
    # Labelbox and Avala are one service each: the namespace is the scheme of their asset URIs.
    lb_space, av_space = "labelbox", "avala"

    export = events.of_task("ol_lb_export", "COMPLETE")
    assert datasets(export, "inputs") == [(lb_space, f"projects/{LB_PROJECT}")]
    assert datasets(export, "outputs") == [("file", f"{tmp_path}/labels.ndjson")]
    assert facets(export)[1]["remoteRun"]["runId"] in {t["id"] for t in labelbox.tasks}

    upsert = events.of_task("ol_lb_upsert", "COMPLETE")
    assert datasets(upsert, "inputs") == [("file", str(rows))]
    assert datasets(upsert, "outputs") == [(lb_space, f"datasets/{LB_DATASET}")]

    autolabel = events.of_task("ol_av_autolabel", "COMPLETE")
    assert (
        datasets(autolabel, "inputs")
        == datasets(autolabel, "outputs")
        == [(av_space, f"projects/{AV_PROJECT}")]
    )
    assert facets(autolabel)[0]["remoteTask"] == {
        **facets(autolabel)[0]["remoteTask"],
        "platform": "avala",
        "task": "auto_label",
    }


def test_object_storage_paths_are_named_by_the_openlineage_rules_without_credentials():
    from airflow_remote_tasks.operators.lineage import storage_dataset

    assert storage_dataset("s3://bucket/exports/2026/labels.ndjson") == (
        "s3://bucket",
        "exports/2026/labels.ndjson",
    )
    assert storage_dataset("s3://aws_default@bucket/key") == ("s3://bucket", "key")
    assert storage_dataset("gs://AKIA:s3cr3t@bucket/key") == ("gs://bucket", "key")
    assert (
        storage_dataset("file:///data/out.json")
        == storage_dataset("/data/out.json")
        == ("file", "/data/out.json")
    )


# The provider's modules made unimportable, as where it is not installed. Airflow's configuration is read
# first: it reads every installed provider's metadata, this one's too.
WITHOUT_OPENLINEAGE = """
import importlib.abc, sys
import airflow.sdk

def absent(name):
    return name.split(".")[0] == "openlineage" or name.startswith("airflow.providers.openlineage")

class Absent(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if absent(name):
            raise ModuleNotFoundError(f"No module named {name!r}")

for name in [name for name in sys.modules if absent(name)]:
    del sys.modules[name]
sys.meta_path.insert(0, Absent())
from airflow_remote_tasks.operators.lineage import lineage_labels
import airflow_remote_tasks.operators.remote_task

print(lineage_labels({"ti": None}))
"""


def test_without_the_openlineage_provider_the_operator_imports_and_runs_carry_no_lineage_labels():
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_OPENLINEAGE], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "{}"


def test_with_openlineage_off_runs_carry_no_lineage_labels():
    from airflow.providers.openlineage import conf

    from airflow_remote_tasks.operators.lineage import lineage_labels

    assert conf.is_disabled()  # no transport configured in the tests' Airflow
    assert lineage_labels({"ti": None}) == {}  # type: ignore[typeddict-item]
