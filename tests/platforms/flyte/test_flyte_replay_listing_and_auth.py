"""Flyte's listings, connection test, credentials and answers in other words, driven with canned Connect
answers through the real executors (helpers beside the other replay tests). No server, milliseconds each."""

from __future__ import annotations

import uuid

import pytest
from test_flyte_replay import API, RUNS, action, connect_error, path, platform, run_ref

from airflow_remote_tasks.core.errors import (
    AuthenticationError,
    ConfigurationError,
    NotFoundError,
    TransportError,
    UnexpectedAnswerError,
)
from airflow_remote_tasks.core.phases import Phase
from airflow_remote_tasks.core.replay import Replay, Reply, reply
from airflow_remote_tasks.platforms.flyte.platform import FlytePlatform

# -- listing -----------------------------------------------------------------------------------------------


def listed(*names: str, token: str = "") -> Reply:
    runs = [{"action": {**action("ACTION_PHASE_SUCCEEDED"), "id": {"run": {"name": n}}}} for n in names]
    return reply(json={"runs": runs, **({"token": token} if token else {})})


PROJECT = reply(json={"project": {"id": "ml", "domains": [{"id": "development"}, {"id": "production"}]}})


def test_a_listing_looks_the_project_up_first_then_reads_every_page():
    flyte = platform()
    selector = flyte.check_selector({"task_name": "demo.say_hello", "labels": {"team": "ml"}})
    replay = Replay([PROJECT, listed("af-1", token="t2"), listed("af-2")])
    runs = replay.run(flyte.list_runs(selector))
    assert [(r.run_id, r.status.phase) for r in runs] == [
        ("af-1", Phase.SUCCEEDED),
        ("af-2", Phase.SUCCEEDED),
    ]
    lookup, first, second = replay.bodies
    assert lookup == {"id": "ml", "org": "acme"}
    assert first["request"]["filters"] == [
        {"function": "EQUAL", "field": "task_name", "values": ["demo.say_hello"]},
        {"function": "EQUAL", "field": "labels.team", "values": ["ml"]},
    ]
    assert "token" not in first["request"] and second["request"]["token"] == "t2"
    # Known now: the next listing that finds runs asks no lookup; an empty one asks again.
    again = Replay([listed("af-1"), listed(), PROJECT])
    assert len(again.run(flyte.list_runs(selector))) == 1
    assert again.run(flyte.list_runs(selector)) == []
    assert [path(r).rsplit("/", 1)[1] for r in again.requests] == ["ListRuns", "ListRuns", "GetProject"]


def test_an_unknown_project_or_domain_fails_naming_the_field_it_came_from():
    flyte = platform()
    with pytest.raises(
        NotFoundError, match=r"no Flyte project 'nope' \(the selector's 'project'\).*in org 'acme'"
    ):
        Replay([connect_error("not_found", status=404)]).run(
            flyte.list_runs({"project": "nope", "task_name": "t"})
        )
    with pytest.raises(
        NotFoundError, match=r"has no domain 'qa' \(the selector's 'domain'\); its domains are development"
    ):
        Replay([PROJECT]).run(flyte.list_runs({"domain": "qa", "task_name": "t"}))


@pytest.mark.parametrize(
    "no_service", [connect_error("unimplemented", status=501), reply(status=404, content=b"<html>404</html>")]
)
def test_a_server_without_the_project_service_lists_as_before(no_service):
    assert Replay([no_service, listed()]).run(platform().list_runs({"task_name": "t"})) == []


def test_a_server_that_does_not_filter_by_label_says_to_select_by_task_name():
    refused = connect_error("invalid_argument", "unknown field labels.team")
    with pytest.raises(ConfigurationError, match="Select the runs by 'task_name' instead"):
        Replay([PROJECT, refused]).run(platform().list_runs({"labels": {"team": "ml"}}))


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        ({"task_name": "t", "status": "x"}, "'status' is not one of them"),
        ({"task_name": 3}, "'task_name' must be a string"),
        ({"labels": {"a": 1}}, "'labels' must map label names to string values"),
        ({"project": "ml"}, "needs 'task_name' or 'labels'"),
    ],
)
def test_a_selector_is_checked_before_any_call(selector, message):
    with pytest.raises(ConfigurationError, match=message):
        platform().check_selector(selector)


# -- the connection test, and answers that are not Flyte's -------------------------------------------------


def test_the_connection_test_proves_flyte_answered():
    assert "tasks are deployed" in Replay([reply(json={"tasks": [{"taskId": {}}]})]).run(
        platform().check_connection()
    )
    assert "no tasks are deployed yet" in Replay(
        [reply(json={}), connect_error("not_found", status=404)]
    ).run(platform().check_connection())
    with pytest.raises(UnexpectedAnswerError, match="a run lookup answered without run details"):
        Replay([reply(json={}), reply(json={})]).run(platform().check_connection())
    with pytest.raises(UnexpectedAnswerError, match="tasks without a taskId"):
        Replay([reply(json={"tasks": ["x"]})]).run(platform().check_connection())


def test_an_unauthenticated_answer_says_the_credentials_were_refused():
    with pytest.raises(
        AuthenticationError, match=r"GetRunDetails failed: unauthenticated.*credentials were refused"
    ):
        Replay([connect_error("unauthenticated", status=401)]).run(platform().status(run_ref()))


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (
            reply(status=403, content=b"<html>Forbidden</html>", headers={"content-type": "text/html"}),
            UnexpectedAnswerError,
        ),
        (reply(status=404, json={"detail": "Not Found"}), UnexpectedAnswerError),
        (reply(json=["not", "a", "message"]), UnexpectedAnswerError),
        (reply(content=b"<html>hello</html>", headers={"content-type": "text/html"}), UnexpectedAnswerError),
    ],
)
def test_an_answer_in_someone_elses_words_fails_once_naming_the_url(answer, error):
    replay = Replay([answer])
    with pytest.raises(error) as raised:
        replay.run(platform().status(run_ref()))
    assert f"{API}{RUNS}/GetRunDetails" in str(raised.value) and len(replay.requests) == 1


@pytest.mark.parametrize(
    "passing",
    [
        reply(status=429, content=b"slow down", headers={"content-type": "text/plain"}),
        reply(status=502, content=b"<html>Bad gateway</html>", headers={"content-type": "text/html"}),
        connect_error("unavailable", status=503),
        connect_error("resource_exhausted", status=429),
    ],
)
def test_a_gateway_or_rate_limit_answer_is_tried_again(passing):
    replay = Replay([passing, reply(json={"details": {"action": action("ACTION_PHASE_RUNNING")}})])
    assert replay.run(platform().status(run_ref())).phase is Phase.RUNNING
    assert len(replay.requests) == 2


def test_a_gateway_page_that_stays_is_a_transient_error():
    page = reply(status=502, content=b"<html>Bad gateway</html>", headers={"content-type": "text/html"})
    with pytest.raises(TransportError, match="is not a Flyte API answer"):
        Replay([page] * 5).run(platform().status(run_ref()))


# -- credentials -------------------------------------------------------------------------------------------


def client_credentials() -> FlytePlatform:
    # A secret of its own: tokens are shared per credential by the process's token cache.
    return platform(
        auth_mode="client_credentials", client_id="airflow", client_secret=f"s3cr3t-{uuid.uuid4()}"
    )


OAUTH2_METADATA = reply(json={"tokenEndpoint": f"{API}/oauth2/token"})
CLIENT_CONFIG = reply(
    json={"authorizationMetadataKey": "flyte-authorization", "scopes": ["all"], "audience": "a"}
)
TOKEN = reply(json={"access_token": "tok-1", "expires_in": 3600})
RUNNING = reply(json={"details": {"action": action("ACTION_PHASE_RUNNING")}})


def test_client_credentials_discover_the_header_and_token_endpoint_then_fetch_one_token():
    flyte = client_credentials()
    replay = Replay([OAUTH2_METADATA, CLIENT_CONFIG, TOKEN, RUNNING, RUNNING])
    replay.run(flyte.status(run_ref()), platform=flyte)
    replay.run(flyte.status(run_ref()), platform=flyte)
    oauth, client, token, *reads = replay.requests
    assert [path(r).rsplit("/", 1)[1] for r in (oauth, client, token)] == [
        "GetOAuth2Metadata",
        "GetPublicClientConfig",
        "token",
    ]
    assert "flyte-authorization" not in oauth.headers and "flyte-authorization" not in client.headers
    assert token.content == b"grant_type=client_credentials&scope=all&audience=a"
    assert [r.headers["flyte-authorization"] for r in reads] == ["Bearer tok-1", "Bearer tok-1"]


def test_discovery_belongs_to_the_platform_object_and_expires(monkeypatch):
    from airflow_remote_tasks.platforms.flyte import auth

    first = client_credentials()
    Replay([OAUTH2_METADATA, CLIENT_CONFIG, TOKEN, RUNNING]).run(first.status(run_ref()), platform=first)
    # Another connection's platform reads the endpoint's metadata itself; this one keeps what it read.
    second = client_credentials()
    replay = Replay([OAUTH2_METADATA, CLIENT_CONFIG, TOKEN, RUNNING, RUNNING])
    replay.run(second.status(run_ref()), platform=second)
    replay.run(first.status(run_ref()), platform=first)
    assert replay.left == 0
    monkeypatch.setattr(auth, "DISCOVERY_TTL", 0.0)
    expired = client_credentials()
    replay = Replay([OAUTH2_METADATA, CLIENT_CONFIG, TOKEN, RUNNING, OAUTH2_METADATA, CLIENT_CONFIG, RUNNING])
    replay.run(expired.status(run_ref()), platform=expired)
    replay.run(expired.status(run_ref()), platform=expired)
    assert replay.left == 0  # read again once expired; the token is still good


def test_a_token_endpoint_on_another_origin_gets_no_secret():
    flyte = client_credentials()
    elsewhere = reply(json={"tokenEndpoint": "https://idp.example/oauth2/token"})
    replay = Replay([elsewhere, CLIENT_CONFIG])
    with pytest.raises(
        ConfigurationError, match=r"set the connection's Token endpoint to https://idp\.example"
    ):
        replay.run(flyte.status(run_ref()), platform=flyte)
    assert len(replay.requests) == 2


def test_a_refused_client_secret_is_an_authentication_error_naming_the_client():
    flyte = client_credentials()
    replay = Replay([OAUTH2_METADATA, CLIENT_CONFIG, reply(status=401, json={"error": "invalid_client"})])
    with pytest.raises(AuthenticationError, match="refused client 'airflow'"):
        replay.run(flyte.status(run_ref()), platform=flyte)
