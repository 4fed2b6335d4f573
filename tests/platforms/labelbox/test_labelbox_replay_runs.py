"""Labelbox's runs driven with canned GraphQL answers through the real executors: status words, outputs and
downloads, abort, what the base class answers, and the errors each answer means. No server, milliseconds each."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import pytest
from labelbox_replies import (
    API,
    IMPORT,
    NAME,
    PROJECT,
    TASK,
    USER,
    data,
    graphql_error,
    names,
    platform,
    routed,
    task,
    user_task,
    variables,
)

from airflow_remote_tasks.core.errors import (
    ApiError,
    AuthenticationError,
    ConfigurationError,
    NotFoundError,
    RefusedError,
    TransportError,
    UnexpectedAnswerError,
)
from airflow_remote_tasks.core.models import RunRef, RunStatus, StreamedOutput
from airflow_remote_tasks.core.phases import Phase
from airflow_remote_tasks.core.replay import Replay, Reply, reply
from airflow_remote_tasks.platforms.labelbox.row_errors import RowErrorsError
from support import LABELBOX_KEY

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
