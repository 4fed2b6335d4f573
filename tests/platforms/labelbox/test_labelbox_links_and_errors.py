"""Labelbox: run ids checked before use, GraphQL errors inside HTTP 200 named by code, and run links that open
a page on the emulator (App URL set to it)."""

from __future__ import annotations

import json
import logging

import httpx
import pytest
from pydantic import SecretStr

from airflow_helpers import run_dag
from airflow_remote_tasks.core.errors import ApiError, ConfigurationError, InvalidInputsError
from airflow_remote_tasks.core.operation import HttpResponse
from airflow_remote_tasks.core.retry import RetryPolicy
from airflow_remote_tasks.links.remote_run import RUN_URL_KEY
from airflow_remote_tasks.platforms.labelbox.config import LabelboxConfig
from airflow_remote_tasks.platforms.labelbox.jobs import parse_job
from airflow_remote_tasks.platforms.labelbox.platform import LabelboxPlatform
from support import LABELBOX_KEY

DATASET = "ckds000000000000000000001"
PROJECT = "ckproj0000000000000000001"


def platform_for(
    endpoint: str = "https://lb.example/graphql", app_url: str = "https://app.example"
) -> LabelboxPlatform:
    return LabelboxPlatform(
        LabelboxConfig(endpoint=endpoint, api_key=SecretStr(LABELBOX_KEY), app_url=app_url)
    )


def graphql_answer(body: object) -> HttpResponse:
    return HttpResponse(200, {"content-type": "application/json"}, json.dumps(body).encode())


# -- run ids ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("run_id", ["../users/me", "cktask1/../x", "a b", "", "x" * 65])
def test_a_run_id_that_is_not_a_task_id_is_refused_before_any_call(run_id):
    operation = platform_for().find_run(run_id)
    with pytest.raises(
        ConfigurationError, match=r"run_id=.* is not a valid Labelbox run id: expected a Labelbox"
    ):
        next(operation)  # refused before the first request


def test_ids_in_link_paths_are_percent_encoded_and_checked():
    config = platform_for().config
    assert config.project_url("p/../q") == "https://app.example/projects/p%2F..%2Fq"
    assert config.dataset_url("ds?x#y") == "https://app.example/catalog/ds%3Fx%23y"
    assert config.task_url("t&admin=1") == "https://app.example/tasks?task=t%26admin%3D1"
    with pytest.raises(ValueError, match="cannot be a URL path segment"):
        config.project_url("..")
    with pytest.raises(InvalidInputsError, match=r"project_id.*(pattern|match)"):
        parse_job("export_project", {"project_id": ".."})


# -- GraphQL errors inside HTTP 200 ----------------------------------------------------------------------


def test_an_error_inside_200_is_reported_with_its_code_and_message():
    operation = platform_for().check_connection()
    next(operation)
    refused = {
        "data": None,
        "errors": [{"message": "Organization is suspended", "extensions": {"code": "OPERATION_NOT_ALLOWED"}}],
    }
    with pytest.raises(ApiError) as raised:
        operation.send(graphql_answer(refused))
    assert (
        str(raised.value)
        == "GetUserPyApi failed: Labelbox answered OPERATION_NOT_ALLOWED: Organization is suspended"
    )
    assert "HTTP 200" not in str(raised.value) and raised.value.code == "OPERATION_NOT_ALLOWED"
    operation = platform_for().check_connection()
    next(operation)
    passing = {
        "data": None,
        "errors": [
            {
                "message": "LBU limit exceeded, upgrade to continue",
                "extensions": {"code": "INTERNAL_SERVER_ERROR", "exception": {"status": 426}},
            }
        ],
    }
    with pytest.raises(ApiError, match=r"INTERNAL_SERVER_ERROR \(status 426\): LBU limit exceeded") as raised:
        operation.send(graphql_answer(passing))
    assert not raised.value.retryable


def test_errors_inside_200_from_the_emulator_name_their_code_in_the_error_and_the_retry_log(labelbox, caplog):
    from airflow_remote_tasks.platforms.labelbox.hook import LabelboxHook

    hook = LabelboxHook("labelbox_default")

    def check_connection() -> str:
        return hook.run(hook.platform.check_connection(), RetryPolicy(attempts=2, initial_backoff=0.01))

    httpx.post(
        f"{labelbox.server.url}/_emulator/graphql-errors", json={"next": 1, "code": "OPERATION_NOT_ALLOWED"}
    )
    with pytest.raises(
        ApiError, match="GetUserPyApi failed: Labelbox answered OPERATION_NOT_ALLOWED: injected fault"
    ):
        check_connection()
    fault = {"next": 2, "code": "INTERNAL_SERVER_ERROR", "status": 503}
    httpx.post(f"{labelbox.server.url}/_emulator/graphql-errors", json=fault)
    with caplog.at_level(logging.WARNING), pytest.raises(ApiError) as raised:
        check_connection()
    assert str(raised.value) == (
        "GetUserPyApi failed after 2 tries: Labelbox answered INTERNAL_SERVER_ERROR (status 503): injected fault"
    )
    assert raised.value.retryable
    assert "failed (HTTP 200: INTERNAL_SERVER_ERROR: injected fault); try 1" in caplog.text
    assert LABELBOX_KEY not in caplog.text + str(raised.value)


# -- links -----------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("airflow_db")
def test_run_links_point_at_the_app_and_open_a_page_on_the_emulator(labelbox, tmp_path):
    labelbox.connect(app_url=labelbox.server.url)  # what make demo sets: the emulator serves the app's pages
    base = labelbox.server.url
    dataset = run_dag("lb_export_dataset", conf={"out": str(tmp_path / "catalog.ndjson")})
    assert dataset.state == "success"
    assert dataset.xcom("remote", RUN_URL_KEY) == f"{base}/catalog/{DATASET}"
    project = run_dag("lb_export_worker", conf={"out": str(tmp_path / "labels.ndjson")})
    assert project.xcom("remote", RUN_URL_KEY) == f"{base}/projects/{PROJECT}"
    upsert = run_dag("lb_upsert_inline")
    task_id = upsert.xcom("remote", "run_id")
    assert upsert.xcom("remote", RUN_URL_KEY) == f"{base}/tasks?task={task_id}"
    pages = {
        f"{base}/catalog/{DATASET}": "Labelbox dataset emulator-dataset",
        f"{base}/projects/{PROJECT}": "Labelbox project emulator-project",
        f"{base}/tasks?task={task_id}": "Labelbox task Upsert data rows",
    }
    for url, title in pages.items():
        page = httpx.get(url)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html"), url
        assert f"<h1>{title}</h1>" in page.text
    assert task_id in httpx.get(f"{base}/tasks?task={task_id}").text
    assert httpx.get(f"{base}/projects/ckprojnope").status_code == 404


# -- a call refused as malformed: no retries -------------------------------------------------------------


@pytest.mark.usefixtures("airflow_db")
def test_a_call_that_does_not_parse_fails_the_task_without_airflow_retries(labelbox, tmp_path, capfd):
    # Every call answered GRAPHQL_PARSE_FAILED: a second try would meet the same answer.
    httpx.post(
        f"{labelbox.server.url}/_emulator/graphql-errors", json={"next": 1000, "code": "GRAPHQL_PARSE_FAILED"}
    )
    result = run_dag("lb_retry_worker", conf={"out": str(tmp_path / "out.ndjson")})  # retries=1
    assert result.task_state("remote") == "failed"
    assert result.try_number("remote") == 1
    out = capfd.readouterr()
    assert "Labelbox answered GRAPHQL_PARSE_FAILED: injected fault" in out.out + out.err
    assert labelbox.tasks == []


@pytest.mark.usefixtures("airflow_db")
def test_a_query_the_servers_schema_refuses_fails_the_task_without_airflow_retries(
    labelbox, tmp_path, capfd, monkeypatch
):
    from airflow_remote_tasks.platforms.labelbox import queries

    # A field the emulator's schema (graphql-core) does not have: a real validation failure, not an injected one.
    monkeypatch.setattr(queries, "GET_PROJECT", queries.GET_PROJECT.replace("uploadType", "noSuchField"))
    result = run_dag("lb_retry_worker", conf={"out": str(tmp_path / "out.ndjson")})
    assert result.task_state("remote") == "failed"
    assert result.try_number("remote") == 1
    out = capfd.readouterr()
    text = out.out + out.err
    assert (
        "GRAPHQL_VALIDATION_FAILED: Cannot query field 'noSuchField' on type 'Project'. Labelbox refused"
        in text
    )
    assert labelbox.tasks == []
