"""Labelbox's submits driven with canned GraphQL answers through the real executors: what each job kind sends,
and what a lost answer does (the create is found again, or sent again only where nothing can be duplicated).
No server, milliseconds each."""

from __future__ import annotations

import json
from typing import Any

import pytest
from labelbox_replies import (
    APP,
    DATASET,
    IMPORT,
    LABEL,
    NAME,
    ORIGIN,
    PROJECT,
    ROWS,
    TASK,
    USER,
    data,
    exists,
    graphql_error,
    names,
    operation_of,
    platform,
    routed,
    submit,
    task,
    user_task,
    variables,
)

from airflow_remote_tasks.core.errors import (
    ApiError,
    ConfigurationError,
    InvalidInputsError,
    NotFoundError,
)
from airflow_remote_tasks.core.models import RunRef
from airflow_remote_tasks.core.replay import Replay, Reply, reply
from airflow_remote_tasks.platforms.labelbox.jobs import DataRow, PreparedJob
from support import LABELBOX_KEY

# -- submit: exports ------------------------------------------------------------------------------------


def test_a_project_export_is_looked_up_by_name_then_created_once_with_the_key():
    replay = Replay(
        routed(
            {
                **exists(),
                "GetUserCreatedTasksPyApi": [user_task()],
                "exportDataRowsInProjectPyApi": [data({"exportDataRowsInProject": {"taskId": TASK}})],
            }
        )
    )
    lb = platform()
    ref = submit(lb, replay, "export_project", {"project_id": PROJECT, "params": {"label_details": True}})
    assert ref == RunRef(
        platform="labelbox", run_id=TASK, scope={"via": "user"}, url=f"{APP}/projects/{PROJECT}"
    )
    assert names(replay) == [
        "GetProjectPyApi",
        "GetUserPyApi",
        "GetUserCreatedTasksPyApi",
        "exportDataRowsInProjectPyApi",
    ]
    assert {r.headers["authorization"] for r in replay.requests} == {f"Bearer {LABELBOX_KEY}"}
    sent = variables(replay.requests[-1])["input"]
    assert sent["taskName"] == NAME and sent["filters"]["projectId"] == PROJECT
    assert sent["params"]["includeLabelDetails"] is True


def test_a_dataset_export_links_to_the_dataset_in_the_catalog():
    replay = Replay(
        routed(
            {
                "GetDatasetPyApi": [data({"dataset": {"id": DATASET}})],
                "GetUserPyApi": [data(USER)],
                "GetUserCreatedTasksPyApi": [user_task()],
                "exportDataRowsInCatalogPyApi": [data({"exportDataRowsInCatalog": {"taskId": TASK}})],
            }
        )
    )
    ref = submit(platform(), replay, "export_dataset", {"dataset_id": DATASET})
    assert ref.url == f"{APP}/catalog/{DATASET}"
    query = variables(replay.requests[-1])["input"]["filters"]["searchQuery"]["query"]
    assert query[-1] == {"ids": [DATASET], "operator": "is", "type": "dataset"}


def test_an_export_whose_create_answer_was_lost_is_found_by_name_and_not_created_twice():
    replay = Replay(
        routed(
            {
                **exists(),
                "GetUserCreatedTasksPyApi": [user_task(), user_task(task())],
                "exportDataRowsInProjectPyApi": [reply(lost=True)],
            }
        )
    )
    ref = submit(platform(), replay, "export_project", {"project_id": PROJECT})
    assert ref.run_id == TASK
    assert names(replay).count("exportDataRowsInProjectPyApi") == 1


def test_an_export_found_by_name_attaches_without_a_create():
    replay = Replay(routed({**exists(), "GetUserCreatedTasksPyApi": [user_task(task())]}))
    assert submit(platform(), replay, "export_project", {"project_id": PROJECT}).run_id == TASK
    assert "exportDataRowsInProjectPyApi" not in names(replay)


def test_a_failed_or_cancelled_export_of_the_same_name_is_not_attached_to():
    replay = Replay(
        routed(
            {
                **exists(),
                "GetUserCreatedTasksPyApi": [
                    user_task(task("FAILED", id="ckold1"), task("CANCELED", id="ckold2"))
                ],
                "exportDataRowsInProjectPyApi": [data({"exportDataRowsInProject": {"taskId": TASK}})],
            }
        )
    )
    assert submit(platform(), replay, "export_project", {"project_id": PROJECT}).run_id == TASK


def test_an_export_create_refused_transiently_is_sent_again_after_a_lookup():
    busy = reply(status=503, json={"message": "busy"})
    replay = Replay(
        routed(
            {
                **exists(),
                "GetUserCreatedTasksPyApi": [user_task(), user_task()],
                # The create is not repeated by the executor (not idempotent): create_once sends it again.
                "exportDataRowsInProjectPyApi": [busy, data({"exportDataRowsInProject": {"taskId": TASK}})],
            }
        )
    )
    assert submit(platform(), replay, "export_project", {"project_id": PROJECT}).run_id == TASK
    assert names(replay).count("exportDataRowsInProjectPyApi") == 2


def test_a_project_the_key_cannot_see_is_named_and_nothing_is_started():
    replay = Replay(routed({"GetProjectPyApi": [graphql_error("RESOURCE_NOT_FOUND")]}))
    with pytest.raises(NotFoundError, match=f"No Labelbox project '{PROJECT}' is reachable"):
        submit(platform(), replay, "export_project", {"project_id": PROJECT})
    assert names(replay) == ["GetProjectPyApi"]


def test_a_job_this_provider_does_not_start_is_refused():
    with pytest.raises(ConfigurationError, match="Labelbox job 'train' is not one this provider starts"):
        platform().resolve_task("train", "latest")


# -- submit: upserts -----------------------------------------------------------------------------------


def keys_found(*found: str) -> list[Reply]:
    missing = [r["global_key"] for r in ROWS if r["global_key"] not in found]
    return [
        data({"dataRowsForGlobalKeys": {"jobId": "j1"}}),
        data(
            {
                "dataRowsForGlobalKeysResult": {
                    "jobStatus": "COMPLETE",
                    "data": {"notFoundGlobalKeys": missing},
                }
            }
        ),
    ]


def uploaded(url: str) -> Reply:
    return data({"uploadFile": {"url": url, "filename": url.rsplit("/", 1)[1]}})


def upload_bodies(replay: Replay) -> list[bytes]:
    """The files the uploads sent (the multipart part after ``map``)."""
    files = []
    for request in replay.requests:
        if operation_of(request) == "UploadFile":
            files.append(request.content.split(b"\r\n\r\n")[-1].rsplit(b"\r\n--", 1)[0])
    return files


def upsert_routes(*starts: Reply, lookups: list[Reply] | None = None) -> dict[str, list[Reply]]:
    return {
        "GetDatasetPyApi": [data({"dataset": {"id": DATASET}})],
        "getDataRowsForGlobalKeysPyApi": [
            r for r in (lookups or keys_found()) if "jobId" in json.dumps(r.json)
        ],
        "getDataRowsForGlobalKeysResultPyApi": [
            r for r in (lookups or keys_found()) if "jobStatus" in json.dumps(r.json)
        ],
        "UploadFile": [uploaded(f"https://lb.example/u/{i}") for i in range(4)],
        "UpsertDataRowsPyApi": list(starts),
    }


def test_inline_rows_are_checked_once_by_prepare_inputs_and_upserted_new_ones_created():
    lb = platform()
    interface = Replay([]).run(lb.resolve_task("upsert_data_rows", "latest"))
    job = lb.prepare_inputs(interface, {"dataset_id": DATASET, "rows": ROWS})
    assert isinstance(job, PreparedJob) and job.checked == [DataRow.model_validate(r) for r in ROWS]
    replay = Replay(routed(upsert_routes(data({"upsertDataRows": {"id": TASK}}))))
    ref = replay.run(lb.submit(interface, job, origin=ORIGIN, labels={}, env={}), platform=lb)
    assert ref.scope == {"via": "user", "fail_on_row_errors": True}  # a boolean, not "true"
    assert ref.url == f"{APP}/tasks?task={TASK}"
    assert names(replay) == [
        "GetDatasetPyApi",
        "getDataRowsForGlobalKeysPyApi",
        "getDataRowsForGlobalKeysResultPyApi",
        "UploadFile",  # the chunk
        "UploadFile",  # the manifest
        "UpsertDataRowsPyApi",
    ]
    chunk, manifest = upload_bodies(replay)
    assert [item["id"] for item in json.loads(chunk)] == [{"type": "AUTO", "value": ""}] * 2
    assert json.loads(manifest) == {
        "source": "SDK",
        "item_count": 1,
        "chunk_uris": ["https://lb.example/u/0"],
    }
    assert variables(replay.requests[-1]) == {"manifestUri": "https://lb.example/u/1"}


def test_an_upsert_whose_start_answer_was_lost_keys_the_rows_it_created_the_second_time():
    lookups = [*keys_found(), *keys_found("a.jpg", "b.jpg")]
    routes = upsert_routes(reply(lost=True), data({"upsertDataRows": {"id": TASK}}), lookups=lookups)
    replay = Replay(routed(routes))
    ref = submit(platform(), replay, "upsert_data_rows", {"dataset_id": DATASET, "rows": ROWS})
    assert ref.run_id == TASK
    first, _, second, _ = upload_bodies(replay)
    assert {item["id"]["type"] for item in json.loads(first)} == {"AUTO"}
    assert [item["id"] for item in json.loads(second)] == [
        {"type": "GKEY", "value": "a.jpg"},
        {"type": "GKEY", "value": "b.jpg"},
    ]


def test_a_rows_file_is_opened_once_though_the_start_is_sent_twice(tmp_path):
    path = tmp_path / "rows.ndjson"
    path.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    opened: list[str] = []

    def open_uri(uri: str) -> Any:
        opened.append(uri)
        return open(uri, "rb")

    lb = platform(open_uri)
    interface = Replay([]).run(lb.resolve_task("upsert_data_rows", "latest"))
    job = lb.prepare_inputs(interface, {"dataset_id": DATASET, "rows": str(path)})
    assert job.checked is None and opened == []  # a file is read by the submit, not before
    lookups = [*keys_found(), *keys_found("a.jpg", "b.jpg")]
    replay = Replay(
        routed(upsert_routes(reply(lost=True), data({"upsertDataRows": {"id": TASK}}), lookups=lookups))
    )
    replay.run(lb.submit(interface, job, origin=ORIGIN, labels={}, env={}), platform=lb)
    assert opened == [str(path)]


def test_a_row_without_a_key_is_refused_by_prepare_inputs_naming_it():
    lb = platform()
    interface = Replay([]).run(lb.resolve_task("upsert_data_rows", "latest"))
    with pytest.raises(InvalidInputsError, match=r"rows\[1\] has neither 'global_key' nor 'id'"):
        lb.prepare_inputs(interface, {"dataset_id": DATASET, "rows": [ROWS[0], {"row_data": "x"}]})


def test_a_lookup_job_that_failed_sends_no_row():
    lookups = [
        data({"dataRowsForGlobalKeys": {"jobId": "j1"}}),
        data({"dataRowsForGlobalKeysResult": {"jobStatus": "FAILED", "data": None}}),
    ]
    replay = Replay(routed(upsert_routes(lookups=lookups)))
    with pytest.raises(
        ApiError, match=r"lookup of 2 global keys \(job j1\) failed; no row was sent"
    ) as raised:
        submit(platform(), replay, "upsert_data_rows", {"dataset_id": DATASET, "rows": ROWS})
    assert raised.value.retryable
    assert "UploadFile" not in names(replay)


# -- submit: imports -----------------------------------------------------------------------------------


def test_labels_are_imported_as_one_file_under_the_task_instances_name():
    replay = Replay(
        routed(
            {
                "GetProjectPyApi": [data({"project": {"id": PROJECT}})],
                "getLabelImportPyApi": [data({"labelImport": None})],
                "createLabelImportByFilePyApi": [data({"createLabelImport": IMPORT})],
            }
        )
    )
    ref = submit(platform(), replay, "import_labels", {"project_id": PROJECT, "labels": [LABEL]})
    assert ref == RunRef(
        platform="labelbox",
        run_id="ckimport1",
        scope={"kind": "label_import", "project": PROJECT, "name": NAME, "fail_on_row_errors": True},
        url=f"{APP}/projects/{PROJECT}",
    )
    create = replay.requests[-1]
    assert variables(create) == {
        "projectId": PROJECT,
        "name": NAME,
        "file": None,
        "contentLength": len(create.content.split(b"\r\n\r\n")[-1].rsplit(b"\r\n--", 1)[0]),
    }
    [sent] = [
        json.loads(line)
        for line in create.content.split(b"\r\n\r\n")[-1].rsplit(b"\r\n--", 1)[0].splitlines()
    ]
    assert sent["uuid"] and {k: v for k, v in sent.items() if k != "uuid"} == LABEL


def test_a_prediction_import_whose_create_answer_was_lost_is_found_by_name_and_sent_once():
    replay = Replay(
        routed(
            {
                "GetProjectPyApi": [data({"project": {"id": PROJECT}})],
                "getModelAssistedLabelingPredictionImportPyApi": [
                    data({"modelAssistedLabelingPredictionImport": None}),
                    data({"modelAssistedLabelingPredictionImport": IMPORT}),
                ],
                "createMALPredictionImportByFilePyApi": [reply(lost=True)],
            }
        )
    )
    ref = submit(platform(), replay, "import_predictions", {"project_id": PROJECT, "predictions": [LABEL]})
    assert ref.run_id == "ckimport1" and ref.scope["kind"] == "prediction_import"
    assert names(replay).count("createMALPredictionImportByFilePyApi") == 1


def test_a_failed_import_of_the_same_name_is_created_again():
    replay = Replay(
        routed(
            {
                "GetProjectPyApi": [data({"project": {"id": PROJECT}})],
                "getLabelImportPyApi": [data({"labelImport": {**IMPORT, "state": "FAILED"}})],
                "createLabelImportByFilePyApi": [data({"createLabelImport": {**IMPORT, "id": "cknew"}})],
            }
        )
    )
    assert (
        submit(platform(), replay, "import_labels", {"project_id": PROJECT, "labels": [LABEL]}).run_id
        == "cknew"
    )


def test_an_annotation_without_a_feature_is_refused_before_anything_is_sent():
    lb = platform()
    interface = Replay([]).run(lb.resolve_task("import_labels", "latest"))
    with pytest.raises(InvalidInputsError, match=r"labels\[0\] names no feature"):
        lb.prepare_inputs(interface, {"project_id": PROJECT, "labels": [{"dataRow": {"id": "ckdr1"}}]})
