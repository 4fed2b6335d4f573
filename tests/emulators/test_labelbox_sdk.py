"""The official labelbox SDK (7.17) against the emulator: so the emulator speaks Labelbox's GraphQL."""

from __future__ import annotations

import json
import time

import labelbox as lb
import pytest
from lbox.exceptions import ResourceNotFoundError

from airflow_helpers import run_dag
from airflow_remote_tasks.emulators.labelbox import DEMO_DATASET_ID, DEMO_PROJECT_ID
from airflow_remote_tasks.emulators.labelbox.exports import build as build_export
from support import LABELBOX_KEY

pytestmark = [pytest.mark.sdk]


@pytest.fixture
def client(labelbox) -> lb.Client:
    base = labelbox.server.url
    return lb.Client(
        api_key=LABELBOX_KEY, endpoint=f"{base}/graphql", rest_endpoint=f"{base}/api/v1", app_url=base
    )


def test_sdk_finds_the_seeded_project_and_dataset(client):
    assert client.get_project(DEMO_PROJECT_ID).name == "emulator-project"
    assert client.get_dataset(DEMO_DATASET_ID).name == "emulator-dataset"
    assert DEMO_PROJECT_ID in [p.uid for p in client.get_projects()]
    assert DEMO_DATASET_ID in [d.uid for d in client.get_datasets()]
    assert client.get_user().email == "airflow@example.com"
    assert client.get_organization().name == "Emulated Organization"


@pytest.mark.parametrize("scope", ["project", "dataset"])
def test_sdk_exports_and_streams_the_rows_back(client, labelbox, scope):
    labelbox.emulator.state.task_seconds = 0.3
    if scope == "project":
        task = client.get_project(DEMO_PROJECT_ID).export(
            params={"label_details": True}, filters={"workflow_status": "Done"}
        )
    else:
        task = client.get_dataset(DEMO_DATASET_ID).export(params={"metadata_fields": True})
    task.wait_till_done(timeout_seconds=30)
    assert task.status == "COMPLETE" and task.has_result()
    rows = [output.json for output in task.get_buffered_stream()]
    expected = build_export(
        labelbox.emulator.state,
        DEMO_PROJECT_ID if scope == "project" else None,
        DEMO_DATASET_ID,
        {
            "searchQuery": {
                "query": [{"type": "task_queue_status", "status": "Done"}] if scope == "project" else []
            }
        },
    )
    assert len(rows) == expected.lines > 0
    assert b"".join(json.dumps(row, separators=(",", ":")).encode() + b"\n" for row in rows) == expected.read(
        0, expected.size - 1
    )
    assert rows[0]["data_row"]["id"].startswith("ckdr")


def test_sdk_reads_tasks_by_id_and_in_the_organization(client, labelbox):
    labelbox.emulator.state.task_seconds = 30
    task = client.get_project(DEMO_PROJECT_ID).export()
    again = client.get_task_by_id(task.uid)
    assert again.uid == task.uid and again.status == "IN_PROGRESS" and again.type == "export-data-rows"
    listed = {t.uid: t.status for t in client.get_organization().tasks()}
    assert listed[task.uid] == "IN_PROGRESS"
    with pytest.raises(ResourceNotFoundError):
        client.get_task_by_id("cktaskNOPE00000000000000")


def test_sdk_cancels_a_running_export(client, labelbox):
    labelbox.emulator.state.task_seconds = 30
    task = client.get_project(DEMO_PROJECT_ID).export()
    assert client.cancel_task(task.uid)
    for _ in range(50):
        if client.get_task_by_id(task.uid).status == "CANCELED":
            break
        time.sleep(0.05)
    assert client.get_task_by_id(task.uid).status == "CANCELED"


@pytest.mark.usefixtures("airflow_db")
def test_sdk_reads_the_export_the_operator_started(client, labelbox, tmp_path):
    result = run_dag("lb_export_worker", conf={"out": str(tmp_path / "rows.ndjson")})
    task_id = result.xcom("remote", "run_id")
    assert client.get_task_by_id(task_id).status == "COMPLETE"
    rows = [output.json for output in lb.ExportTask.get_task(client, task_id).get_buffered_stream()]
    assert len(rows) == result.xcom("collect")["rows"]


def test_sdk_upserts_data_rows_and_reads_the_outcome(client, labelbox):
    labelbox.emulator.state.task_seconds = 0.3
    dataset = client.get_dataset(DEMO_DATASET_ID)
    task = dataset.upsert_data_rows(
        [
            {"row_data": "https://x/sdk-1.jpg", "global_key": "sdk-1", "external_id": "sdk-1.jpg"},
            {"key": lb.GlobalKey("000001-1"), "external_id": "renamed-by-sdk.jpg"},
            {
                "key": lb.GlobalKey("sdk-missing"),
                "external_id": "no-data.jpg",
            },  # keyed by a global key no row has: refused (the emulator's default answer to that guess)
        ]
    )
    task.wait_till_done(timeout_seconds=30)
    assert task.status == "COMPLETE"
    assert len(task.result) == 2
    assert {r["global_key"] for r in task.result} == {"sdk-1", "000001-1"}
    assert len(task.errors) == 1
    assert task.errors[0]["message"] == "Data row with global key 'sdk-missing' not found"


@pytest.mark.parametrize("kind", ["labels", "predictions"])
def test_sdk_imports_annotations_and_reads_their_statuses(client, labelbox, kind):
    labelbox.emulator.state.task_seconds = 0.3
    annotations = [
        {
            "uuid": "9fd9a92e-2560-4e77-81d4-b2e955800092",
            "name": "car",
            "dataRow": {"id": "ckdr000001000000000001"},
            "bbox": {"top": 1, "left": 2, "height": 3, "width": 4},
        }
    ]
    if kind == "labels":
        job = lb.LabelImport.create_from_objects(client, DEMO_PROJECT_ID, "sdk-labels", annotations)
    else:
        job = lb.MALPredictionImport.create_from_objects(client, DEMO_PROJECT_ID, "sdk-preds", annotations)
    job.wait_until_done(sleep_time_seconds=1)
    assert job.state == lb.AnnotationImportState.FINISHED
    assert [s["status"] for s in job.statuses] == ["SUCCESS"]
    assert job.errors == []
