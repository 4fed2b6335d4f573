"""Answers that are not the API's (a login page, another service's 404, JSON of another shape, refused
credentials) fail naming the URL or the connection, on every platform."""

from __future__ import annotations

import pytest
from loopback_servers import CONNECTIONS, Recorder, connect

from airflow_remote_tasks.core.errors import PermanentError, UnexpectedAnswerError
from airflow_remote_tasks.registry import hook_for_connection
from support import set_connection

pytestmark = [pytest.mark.airflow, pytest.mark.usefixtures("airflow_db")]


LOGIN_PAGE = b"<!doctype html><html><head><title>Sign in</title></head><body>Corporate SSO</body></html>"


@pytest.mark.parametrize("platform", list(CONNECTIONS))
def test_an_html_200_is_a_permanent_error_naming_the_url(platform, serve):
    api_url = serve(Recorder(content_type="text/html; charset=utf-8", body=LOGIN_PAGE))
    hook = connect(platform, api_url)
    with pytest.raises(UnexpectedAnswerError) as raised:
        hook.run(hook.platform.check_connection())
    error = raised.value
    assert isinstance(error, PermanentError)
    text = str(error)
    assert api_url in text and "text/html" in text and "Sign in" in text
    assert "?limit" not in text  # Avala's check asks with a query: it is left out
    ok, message = connect(platform, api_url).test_connection()
    assert not ok and "text/html" in message and api_url in message


@pytest.mark.parametrize("platform", list(CONNECTIONS))
def test_a_json_404_from_another_service_says_to_check_the_endpoint(platform, serve):
    api_url = serve(Recorder(status=404, body=b'{"detail": "Not Found"}'))
    ok, message = connect(platform, api_url).test_connection()
    assert not ok
    assert api_url in message and ("endpoint" in message or "base URL" in message)


@pytest.mark.parametrize("platform", list(CONNECTIONS))
def test_test_connection_fails_on_json_of_another_shape(platform, serve):
    # JSON, but not the shape any platform answers with: the test fails naming the URL and what came back
    api_url = serve(Recorder(body=b"[1,2,3]"))
    ok, message = connect(platform, api_url).test_connection()
    assert not ok
    assert api_url in message and "[1,2,3]" in message
    assert "AttributeError" not in message


@pytest.mark.parametrize(
    ("platform", "fixture"),
    [("flyte", "flyte_with_auth"), ("julep", "julep"), ("labelbox", "labelbox"), ("avala", "avala")],
)
def test_refused_credentials_name_the_connection(platform, fixture, request):
    running = request.getfixturevalue(fixture)
    extra = {"auth_header": "flyte-authorization"} if platform == "flyte" else {}
    conn_type, _, fields, _ = CONNECTIONS[platform]
    fields = {**fields, **extra}
    if platform == "flyte":
        fields["access_token"] = "tok-WRONG-000000"
    set_connection(
        "refused_conn", conn_type, running.url, "" if platform == "flyte" else "wrong-KEY-123", fields
    )
    ok, message = hook_for_connection("refused_conn").test_connection()
    assert not ok
    assert "'refused_conn'" in message
