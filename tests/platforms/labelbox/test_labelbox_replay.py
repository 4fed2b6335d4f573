"""Labelbox's operations driven with canned GraphQL answers through the real executors: what is sent, what each
answer means, and what a lost answer does. No server, milliseconds each."""

from __future__ import annotations

import asyncio
import io
import json
import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from airflow_remote_tasks.core.errors import (
    ApiError,
    AuthenticationError,
    ConfigurationError,
    InvalidInputsError,
    NotFoundError,
    RefusedError,
    TransportError,
    UnexpectedAnswerError,
)
from airflow_remote_tasks.core.models import RunOrigin, RunRef, RunStatus, StreamedOutput
from airflow_remote_tasks.core.phases import Phase
from airflow_remote_tasks.core.replay import Replay, Reply, reply
from airflow_remote_tasks.platforms.labelbox.config import LabelboxConfig
from airflow_remote_tasks.platforms.labelbox.jobs import DataRow, PreparedJob, task_name
from airflow_remote_tasks.platforms.labelbox.platform import LabelboxPlatform
from airflow_remote_tasks.platforms.labelbox.row_errors import RowErrorsError
from support import LABELBOX_KEY

API = "https://lb.example/graphql"
APP = "https://app.example"
PROJECT = "ckproj0000000000000000001"
DATASET = "ckds000000000000000000001"
TASK = "cktask00000000000000000001"
ORIGIN = RunOrigin(dag_id="d", run_id="manual__1", task_id="t")
NAME = task_name(ORIGIN)
USER = {"user": {"id": "ckuser1", "name": "Ada", "email": "ada@example.com"}}
ROWS = [
    {"global_key": "a.jpg", "row_data": "https://b/a.jpg"},
    {"global_key": "b.jpg", "row_data": "https://b/b.jpg"},
]
LABEL = {
    "name": "car",
    "dataRow": {"globalKey": "a.jpg"},
    "bbox": {"top": 1, "left": 2, "height": 3, "width": 4},
}


def platform(open_uri: Callable[[str], Any] | None = None) -> LabelboxPlatform:
    return LabelboxPlatform(
        LabelboxConfig(endpoint=API, api_key=SecretStr(LABELBOX_KEY), app_url=APP), open_uri=open_uri
    )


def data(value: dict[str, Any]) -> Reply:
    return reply(json={"data": value})


def graphql_error(code: str, message: str = "m", **extensions: Any) -> Reply:
    return reply(
        json={"data": None, "errors": [{"message": message, "extensions": {"code": code, **extensions}}]}
    )


def operation_of(request: httpx.Request) -> str:
    """The GraphQL operation a request carries (a JSON body, or a multipart one's ``operations`` part)."""
    found = re.search(rb"\b(?:query|mutation)\s+(\w+)", request.content[:4000])
    return found.group(1).decode() if found else f"{request.method} {request.url}"


def names(replay: Replay) -> list[str]:
    return [operation_of(r) for r in replay.requests]


def routed(routes: dict[str, list[Reply]]) -> Callable[[httpx.Request], Reply]:
    """Answers by operation name, each name's in order; an operation with none left fails the test."""

    def answer(request: httpx.Request) -> Reply:
        name = operation_of(request)
        assert routes.get(name), f"no canned answer left for {name}"
        return routes[name].pop(0)

    return answer


def variables(request: httpx.Request) -> dict[str, Any]:
    if request.headers["content-type"].startswith("multipart/"):
        part = request.content.split(b"\r\n\r\n", 1)[1].split(b"\r\n", 1)[0]
        return dict(json.loads(part)["variables"])
    return dict(json.loads(request.content)["variables"] or {})


def submit(lb: LabelboxPlatform, replay: Replay, kind: str, inputs: dict[str, Any]) -> RunRef:
    interface = replay.run(lb.resolve_task(kind, "latest"))
    job = lb.prepare_inputs(interface, inputs)
    return replay.run(lb.submit(interface, job, origin=ORIGIN, labels={}, env={}), platform=lb)


def task(status: str = "IN_PROGRESS", kind: str = "export-data-rows", **fields: Any) -> dict[str, Any]:
    return {"id": TASK, "name": NAME, "status": status, "type": kind, **fields}


def user_task(*tasks: dict[str, Any]) -> Reply:
    return data({"user": {"createdTasks": list(tasks)}})


def exists() -> dict[str, list[Reply]]:
    """The answers before an export's lookup: the project is there, and the key's user."""
    return {"GetProjectPyApi": [data({"project": {"id": PROJECT}})], "GetUserPyApi": [data(USER)]}


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


def test_environment_variables_are_refused_before_any_call():
    lb = platform()
    interface = Replay([]).run(lb.resolve_task("export_project", "latest"))
    job = lb.prepare_inputs(interface, {"project_id": PROJECT})
    replay = Replay([])
    with pytest.raises(ConfigurationError, match="Labelbox jobs take no environment variables"):
        replay.run(lb.submit(interface, job, origin=ORIGIN, labels={}, env={"A": "1"}))
    assert replay.requests == []


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


IMPORT = {"id": "ckimport1", "name": NAME, "state": "RUNNING", "progress": "0%"}


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


# -- status ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("word", "phase"),
    [
        ("IN_PROGRESS", Phase.RUNNING),
        ("CANCELLING", Phase.RUNNING),
        ("COMPLETE", Phase.SUCCEEDED),
        ("FAILED", Phase.FAILED),
        ("CANCELED", Phase.ABORTED),
        ("PAUSED_FOR_REVIEW", Phase.UNKNOWN),
    ],
)
def test_a_tasks_status_word_maps_to_its_phase(word, phase):
    replay = Replay([data(USER), user_task(task(word, completionPercentage=40, errors="https://e/1"))])
    status = replay.run(platform().status(RunRef(platform="labelbox", run_id=TASK, scope={"via": "user"})))
    assert (status.phase, status.raw_phase) == (phase, word)
    assert status.message == ("errors: https://e/1" if phase is Phase.FAILED else "")
    assert status.percent == 40.0


def test_a_task_started_elsewhere_is_found_among_the_organizations_and_read_there():
    lb = platform()
    org = data({"organization": {"tasks": [task("COMPLETE")]}})
    replay = Replay([data(USER), user_task(), org, org])
    ref = replay.run(lb.find_run(TASK))
    assert ref.scope == {"via": "organization"}
    assert replay.run(lb.status(ref)).phase is Phase.SUCCEEDED
    assert names(replay) == [
        "GetUserPyApi",
        "GetUserCreatedTasksPyApi",
        "GetOrganizationTasksPyApi",
        "GetOrganizationTasksPyApi",
    ]


def test_a_task_that_is_nowhere_is_not_found():
    replay = Replay([data(USER), user_task(), data({"organization": {"tasks": []}})])
    with pytest.raises(NotFoundError, match=f"No Labelbox task '{TASK}' among"):
        replay.run(platform().find_run(TASK))


def test_the_users_id_is_read_once_per_platform():
    lb = platform()
    ref = RunRef(platform="labelbox", run_id=TASK, scope={"via": "user"})
    replay = Replay([data(USER), user_task(task()), user_task(task())])
    replay.run(lb.status(ref))
    replay.run(lb.status(ref))
    assert names(replay).count("GetUserPyApi") == 1


@pytest.mark.parametrize(
    ("state", "phase"),
    [
        ("RUNNING", Phase.RUNNING),
        ("FINISHED", Phase.SUCCEEDED),
        ("FAILED", Phase.FAILED),
        ("QUEUED", Phase.UNKNOWN),
    ],
)
def test_an_imports_state_maps_to_its_phase(state, phase):
    ref = RunRef(
        platform="labelbox",
        run_id="ckimport1",
        scope={"kind": "label_import", "project": PROJECT, "name": NAME},
    )
    found = {**IMPORT, "state": state, "progress": "50%", "errorFileUrl": "https://e/errors"}
    replay = Replay([data({"labelImport": found})])
    status = replay.run(platform().status(ref))
    assert (status.phase, status.percent) == (phase, 50.0)
    assert variables(replay.requests[0]) == {"projectId": PROJECT, "name": NAME}
    assert status.message == ("errors: https://e/errors" if phase is Phase.FAILED else "")


def test_an_import_that_is_gone_is_not_found():
    ref = RunRef(
        platform="labelbox",
        run_id="ckimport1",
        scope={"kind": "label_import", "project": PROJECT, "name": NAME},
    )
    with pytest.raises(NotFoundError, match=f"Labelbox import '{NAME}' is gone"):
        Replay([data({"labelImport": None})]).run(platform().status(ref))


# -- outputs and downloads --------------------------------------------------------------------------------


def header(size: int, lines: int) -> Reply:
    return data({"task": {"exportMetadataHeader": {"totalSize": size, "totalLines": lines}}})


def test_an_exports_outputs_are_its_streams_sizes_not_their_content():
    replay = Replay(
        [
            data(USER),
            user_task(task("COMPLETE")),
            header(120, 3),
            data({"task": {"exportMetadataHeader": None}}),
        ]
    )
    output = replay.run(platform().outputs(RunRef(platform="labelbox", run_id=TASK, scope={"via": "user"})))
    assert output == StreamedOutput(
        run_id=TASK, format="ndjson", sizes={"result": 120, "errors": 0}, rows={"result": 3, "errors": 0}
    )


def test_a_download_writes_each_chunk_fetched_without_the_key():
    def chunk(start: int, end: int, file: str) -> Reply:
        return data(
            {"task": {"exportFileFromOffset": {"offsets": {"start": start, "end": end}, "file": file}}}
        )

    lb = platform()
    replay = Replay(
        [
            header(10, 2),
            chunk(0, 5, "https://files.example/c0?sig=s"),
            reply(content=b'{"a":1'),
            chunk(6, 9, "https://files.example/c1?sig=s"),
            reply(content=b"}\n{}"),
        ]
    )
    sink = io.BytesIO()
    replay.run(lb.download(RunRef(platform="labelbox", run_id=TASK), "result", sink), platform=lb)
    assert sink.getvalue() == b'{"a":1}\n{}'
    assert [variables(r).get("offset") for r in replay.requests if r.method == "POST"] == [None, "0", "6"]
    files = [r for r in replay.requests if r.url.host == "files.example"]
    assert len(files) == 2 and all("authorization" not in r.headers for r in files)


def test_a_chunk_that_cannot_be_fetched_fails_the_download_naming_it():
    replay = Replay(
        [
            header(4, 1),
            data(
                {"task": {"exportFileFromOffset": {"offsets": {"start": 0, "end": 3}, "file": "https://f/c"}}}
            ),
            reply(status=403, content=b"expired"),
        ]
    )
    with pytest.raises(TransportError, match=f"Downloading part 0-3 of export {TASK} got HTTP 403"):
        replay.run(platform().download(RunRef(platform="labelbox", run_id=TASK), "result", io.BytesIO()))


def upsert_results(failed: int) -> list[Reply]:
    failures = [{"message": "bad row_data", "spec": {"globalKey": f"k{i}"}} for i in range(failed)]
    return [
        data({"successesfulDataRowImports": {"total": 2, "nodes": [], "after": None}}),
        data({"failedDataRowImports": {"total": failed, "results": failures, "after": None}}),
    ]


def test_an_upserts_outcome_counts_rows_and_fails_on_refused_ones():
    ref = RunRef(
        platform="labelbox", run_id=TASK, scope={"via": "user", "fail_on_row_errors": True}, url="https://t"
    )
    replay = Replay([data(USER), user_task(task("COMPLETE", "adv-upsert-data-rows")), *upsert_results(1)])
    with pytest.raises(
        RowErrorsError, match=r"upserted 2 rows and refused 1 \(first: 'bad row_data'\).*https://t$"
    ):
        replay.run(platform().outputs(ref))


@pytest.mark.parametrize("written", [False, "false"])  # "false": a reference the previous release wrote
def test_an_upsert_told_not_to_fail_on_row_errors_hands_them_to_xcom(written):
    ref = RunRef(platform="labelbox", run_id=TASK, scope={"via": "user", "fail_on_row_errors": written})
    replay = Replay([data(USER), user_task(task("COMPLETE", "adv-upsert-data-rows")), *upsert_results(1)])
    assert replay.run(platform().outputs(ref)) == {
        "run_id": TASK,
        "succeeded": 2,
        "failed": 1,
        "failures": [{"message": "bad row_data", "row": {"globalKey": "k0"}}],
    }


@pytest.mark.parametrize("written", [True, "true"])
def test_an_imports_outcome_reads_its_status_file_and_fails_on_refused_annotations(written):
    scope = {"kind": "label_import", "project": PROJECT, "name": NAME, "fail_on_row_errors": written}
    ref = RunRef(platform="labelbox", run_id="ckimport1", scope=scope)
    status_file = (
        b'{"uuid": "1", "status": "SUCCESS"}\n{"uuid": "2", "status": "FAILURE", "errors": ["no row"]}'
    )
    found = {**IMPORT, "state": "FINISHED", "statusFileUrl": "https://files.example/status?sig=s"}
    replay = Replay([data({"labelImport": found}), reply(content=status_file)])
    lb = platform()
    with pytest.raises(RowErrorsError, match=r"imported 1 annotations and refused 1 \(first: \['no row'\]\)"):
        replay.run(lb.outputs(ref), platform=lb)
    assert "authorization" not in replay.requests[1].headers


def test_an_imports_outcome_without_failures_is_its_counts():
    scope = {"kind": "prediction_import", "project": PROJECT, "name": NAME, "fail_on_row_errors": True}
    ref = RunRef(platform="labelbox", run_id="ckimport1", scope=scope)
    found = {**IMPORT, "state": "FINISHED", "statusFileUrl": "https://files.example/status"}
    replay = Replay(
        [data({"modelAssistedLabelingPredictionImport": found}), reply(content=b'{"status": "SUCCESS"}\n')]
    )
    assert replay.run(platform().outputs(ref)) == {
        "run_id": "ckimport1",
        "name": NAME,
        "succeeded": 1,
        "failed": 0,
        "failures": [],
    }


def test_another_tasks_outputs_are_its_fields():
    replay = Replay([data(USER), user_task(task("COMPLETE", "create-batch", result="ok"))])
    outputs = replay.run(platform().outputs(RunRef(platform="labelbox", run_id=TASK, scope={"via": "user"})))
    assert outputs == {
        "id": TASK,
        "name": NAME,
        "type": "create-batch",
        "status": "COMPLETE",
        "result": "ok",
        "errors": None,
    }


# -- abort -----------------------------------------------------------------------------------------------


USER_REF = RunRef(platform="labelbox", run_id=TASK, scope={"via": "user"})
CANCELABLE = data({"cancelableTaskTypes": ["ExportDataRows", "adv_upsert_data_rows"]})


def test_a_running_cancelable_task_is_cancelled():
    replay = Replay(
        [data(USER), user_task(task()), CANCELABLE, data({"cancelBulkOperationJob": {"success": True}})]
    )
    assert replay.run(platform().abort(USER_REF, "cleared")) is True
    assert variables(replay.requests[-1]) == {"id": TASK}


def test_a_task_type_labelbox_cannot_cancel_goes_on():
    replay = Replay([data(USER), user_task(task(kind="create-batch")), CANCELABLE])
    assert replay.run(platform().abort(USER_REF, "cleared")) is False
    assert "CancelTaskPyApi" not in names(replay)


@pytest.mark.parametrize("status", ["COMPLETE", "CANCELLING"])
def test_a_task_ended_or_being_cancelled_is_not_cancelled_again(status):
    replay = Replay(
        routed(
            {
                "GetUserPyApi": [data(USER)],
                "GetUserCreatedTasksPyApi": [user_task(task(status))],
                "GetCancelableTaskTypesPyApi": [CANCELABLE],
            }
        )
    )
    assert replay.run(platform().abort(USER_REF, "cleared")) is True
    assert "CancelTaskPyApi" not in names(replay)


def test_a_task_that_is_gone_needs_no_cancel():
    replay = Replay([data(USER), user_task()])
    assert replay.run(platform().abort(USER_REF, "cleared")) is True


def test_an_import_cannot_be_stopped_and_nothing_is_asked():
    ref = RunRef(
        platform="labelbox",
        run_id="ckimport1",
        scope={"kind": "label_import", "project": PROJECT, "name": NAME},
    )
    replay = Replay([])
    assert replay.run(platform().abort(ref, "cleared")) is False
    assert replay.requests == []


def test_the_cancelable_task_types_are_read_once_per_platform():
    lb = platform()
    cancelled = data({"cancelBulkOperationJob": {"success": True}})
    replay = Replay([data(USER), user_task(task()), CANCELABLE, cancelled, user_task(task()), cancelled])
    assert replay.run(lb.abort(USER_REF, "a")) and replay.run(lb.abort(USER_REF, "b"))
    assert names(replay).count("GetCancelableTaskTypesPyApi") == 1


# -- what Labelbox cannot do: the base class answers -------------------------------------------------------


def test_set_waits_and_resumes_are_refused_with_one_message_each():
    lb = platform()
    with pytest.raises(
        ConfigurationError, match=r"Labelbox cannot .*filters its task listing by status only"
    ):
        lb.check_selector({"status": "IN_PROGRESS"})
    with pytest.raises(ConfigurationError, match="Labelbox cannot"):
        Replay([]).run(lb.resume(USER_REF, {}))
    running = RunStatus(phase=Phase.RUNNING, raw_phase="IN_PROGRESS")
    assert Replay([]).run(lb.logs(USER_REF, running, 10)) == []
    assert Replay([]).run(lb.progress(USER_REF, 3)).seen == 3
    assert lb.status_batch_limit == 0 and lb.poll_delay() == 0.0


# -- errors ----------------------------------------------------------------------------------------------


def status_of(*answers: Reply) -> Any:
    lb = platform()
    replay = Replay(list(answers))
    return replay, lambda: replay.run(lb.status(USER_REF), platform=lb)


def test_a_refused_key_is_an_authentication_error():
    _, run = status_of(graphql_error("AUTHENTICATION_ERROR"))
    with pytest.raises(AuthenticationError, match="check the connection's API key"):
        run()


def test_a_forbidden_call_names_the_role():
    _, run = status_of(graphql_error("AUTHORIZATION_ERROR"))
    with pytest.raises(AuthenticationError, match="check its role in the organization") as raised:
        run()
    assert raised.value.status == 403


def test_an_http_401_in_labelboxs_words_is_not_retried():
    replay, run = status_of(reply(status=401, json={"message": "Unauthorized"}))
    with pytest.raises(ApiError, match="failed with HTTP 401") as raised:
        run()
    assert len(replay.requests) == 1 and not raised.value.retryable


def test_a_proxys_html_403_is_not_taken_for_labelbox():
    _, run = status_of(
        reply(status=403, content=b"<html>Forbidden</html>", headers={"content-type": "text/html"})
    )
    with pytest.raises(UnexpectedAnswerError, match=API):
        run()


def test_a_missing_task_is_gone():
    _, run = status_of(data(USER), graphql_error("RESOURCE_NOT_FOUND"))
    with pytest.raises(NotFoundError, match=f"Labelbox task '{TASK}' is gone"):
        run()


def test_a_rate_limit_inside_a_200_is_waited_out_and_read_again():
    limited = reply(json={"message": "You have exceeded the rate limit"})
    replay, run = status_of(limited, data(USER), user_task(task()))
    assert run().phase is Phase.RUNNING
    assert names(replay)[:2] == ["GetUserPyApi", "GetUserPyApi"]


def test_a_passing_server_error_inside_a_200_is_retried():
    inner = graphql_error("INTERNAL_SERVER_ERROR", exception={"status": 503})
    replay, run = status_of(reply(status=502, content=b"bad gateway"), inner, data(USER), user_task(task()))
    assert run().phase is Phase.RUNNING
    assert len(replay.requests) == 4


def test_a_server_error_that_persists_fails_after_the_retries_and_stays_transient():
    replay, run = status_of(*[reply(status=503, json={"message": "down"})] * 10)
    with pytest.raises(ApiError, match="GetUserPyApi failed with HTTP 503 after 5 tries: down") as raised:
        run()
    assert raised.value.retryable and len(replay.requests) == 5


def test_a_200_that_is_no_graphql_answer_names_what_came_back():
    _, run = status_of(reply(json={"status": "ok"}))
    with pytest.raises(UnexpectedAnswerError, match="a GraphQL answer"):
        run()


def test_a_call_the_schema_refuses_is_permanent():
    _, run = status_of(graphql_error("GRAPHQL_VALIDATION_FAILED", "Cannot query field 'x'"))
    with pytest.raises(RefusedError, match="asking again cannot help"):
        run()


def test_the_async_executor_drives_the_same_operations():
    lb = platform()
    replay = Replay([data(USER), user_task(task("COMPLETE"))])
    status = asyncio.run(replay.arun(lb.status(USER_REF), platform=lb))
    assert status.phase is Phase.SUCCEEDED
    assert replay.requests[0].headers["authorization"] == f"Bearer {LABELBOX_KEY}"
