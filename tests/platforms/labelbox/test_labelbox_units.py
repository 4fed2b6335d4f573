"""Labelbox's protocol code with canned answers: what sans-I/O makes cheap to test."""

from __future__ import annotations

import json
import logging

import pytest
from pydantic import SecretStr

from airflow_remote_tasks.core.errors import ApiError, AuthenticationError, InvalidInputsError, NotFoundError
from airflow_remote_tasks.core.models import RunRef
from airflow_remote_tasks.core.operation import HttpResponse
from airflow_remote_tasks.core.phases import Phase
from airflow_remote_tasks.platforms.labelbox.config import LabelboxConfig
from airflow_remote_tasks.platforms.labelbox.graphql import data_of, worth_retrying
from airflow_remote_tasks.platforms.labelbox.jobs import parse_job, utc_text
from airflow_remote_tasks.platforms.labelbox.platform import LabelboxPlatform, parse_task_status


def response(body: object, status: int = 200) -> HttpResponse:
    return HttpResponse(status, {"content-type": "application/json"}, json.dumps(body).encode())


def errors(code: str, **extensions: object) -> HttpResponse:
    return response({"data": None, "errors": [{"message": "m", "extensions": {"code": code, **extensions}}]})


def test_errors_inside_200_are_read_and_classified():
    assert worth_retrying(errors("INTERNAL_SERVER_ERROR", exception={"status": 503}))
    assert not worth_retrying(errors("INTERNAL_SERVER_ERROR", exception={"status": 400}))
    assert worth_retrying(response({"message": "You have exceeded the rate limit"}, 429))
    assert worth_retrying(response({"message": "You have exceeded the rate limit"}, 200))
    with pytest.raises(AuthenticationError, match="check the connection's API key"):
        data_of("Q", errors("AUTHENTICATION_ERROR"))
    with pytest.raises(NotFoundError):
        data_of("Q", errors("RESOURCE_NOT_FOUND"))
    with pytest.raises(InvalidInputsError):
        data_of("Q", errors("INTERNAL_SERVER_ERROR", exception={"status": 422}))
    with pytest.raises(ApiError) as raised:
        data_of("Q", errors("INTERNAL_SERVER_ERROR", exception={"status": 503}))
    assert raised.value.retryable
    assert data_of("Q", response({"data": {"x": 1}})) == {"x": 1}


def test_unknown_status_words_are_not_finished_and_logged_once(caplog):
    with caplog.at_level(logging.WARNING):
        first = parse_task_status({"status": "PAUSED_FOR_REVIEW"})
        parse_task_status({"status": "PAUSED_FOR_REVIEW"})
    assert first.phase is Phase.UNKNOWN and not first.is_terminal
    assert caplog.text.count("PAUSED_FOR_REVIEW") == 0  # the wait names it, once (test_waiting_ux.py)
    assert parse_task_status({"status": "CANCELLING"}).phase is Phase.RUNNING  # two L's: not done yet
    assert parse_task_status({"status": "CANCELED"}).phase is Phase.ABORTED


def test_status_operation_with_canned_answers():
    platform = LabelboxPlatform(LabelboxConfig(endpoint="https://lb.example/graphql", api_key=SecretStr("k")))
    operation = platform.status(RunRef(platform="labelbox", run_id="cktask1", scope={"via": "user"}))
    user_query = next(operation)
    assert json.loads(user_query.content or b"")["query"].startswith("query GetUserPyApi")
    task_query = operation.send(response({"data": {"user": {"id": "ckuser1"}}}))
    variables = json.loads(task_query.content or b"")["variables"]
    assert variables == {"param_0": "cktask1", "param_1": "ckuser1"}
    task = {"id": "cktask1", "status": "IN_PROGRESS", "completionPercentage": 40.0}
    with pytest.raises(StopIteration) as done:
        operation.send(response({"data": {"user": {"createdTasks": [task]}}}))
    assert done.value.value.describe() == "running (IN_PROGRESS, 40% done)"


def test_export_inputs_become_the_sdks_wire_shape():
    job = parse_job(
        "export_project",
        {
            "project_id": "p",
            "filters": {"last_activity_at": ["2026-01-01", None], "workflow_status": "ToLabel"},
            "params": {"label_details": True},
        },
    )
    wire = job.wire("n")  # type: ignore[union-attr]
    assert wire["filters"]["searchQuery"]["query"] == [
        {
            "type": "data_row_last_activity_at",
            "value": {"operator": "GREATER_THAN_OR_EQUAL", "timezone": "UTC", "value": "2026-01-01 00:00:00"},
        },
        {"type": "task_queue_not_exist"},
    ]
    assert wire["params"]["includeLabelDetails"] is True and wire["params"]["includeAttachments"] is False
    assert utc_text("2026-01-01T12:00:00+02:00") == "2026-01-01 10:00:00"
    with pytest.raises(InvalidInputsError, match="global_keys cannot be combined"):
        parse_job(
            "export_dataset", {"dataset_id": "d", "filters": {"data_row_ids": ["a"], "global_keys": ["b"]}}
        )
    with pytest.raises(InvalidInputsError, match="is not a date"):
        parse_job("export_dataset", {"dataset_id": "d", "filters": {"label_created_at": ["yesterday", None]}})


@pytest.mark.parametrize(
    "code",
    [
        "GRAPHQL_VALIDATION_FAILED",
        "GRAPHQL_PARSE_FAILED",
        "BAD_USER_INPUT",
        "BAD_REQUEST",
        "OPERATION_RESOLUTION_FAILURE",
    ],
)
def test_a_call_refused_as_malformed_is_permanent(code):
    from airflow_remote_tasks.core.errors import is_permanent, is_transient

    with pytest.raises(ApiError) as raised:
        data_of("GetUserPyApi", errors(code))
    error = raised.value
    assert is_permanent(error) and not is_transient(error)  # Airflow does not retry it
    assert not worth_retrying(errors(code))  # nor does the executor
    assert str(error).startswith(f"GetUserPyApi failed: Labelbox answered {code}: m. ")
    assert "asking again cannot help" in str(error)
