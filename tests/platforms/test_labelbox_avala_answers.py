"""Labelbox and Avala answers that are not theirs (a proxy's page, another service's JSON, JSON of another shape)
fail naming the URL and what came back: permanently (no Airflow retries), except for the statuses a gateway
answers while the API behind it is down (429, 502, 503, 504), which stay transient."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_helpers import DAGS, DagResult
from airflow_remote_tasks.core.errors import (
    AuthenticationError,
    InvalidInputsError,
    NotFoundError,
    PermanentError,
    TransportError,
    UnexpectedAnswerError,
    is_permanent,
    is_transient,
)
from airflow_remote_tasks.core.operation import HttpResponse
from airflow_remote_tasks.emulators.server import Receive, Scope, Send, ServerThread, send_bytes
from airflow_remote_tasks.platforms.avala.wire import error_from_response
from airflow_remote_tasks.platforms.labelbox.graphql import data_of
from airflow_remote_tasks.registry import hook_for_connection
from support import AVALA_KEY, LABELBOX_KEY, set_connection, text_of

sys.path.insert(0, str(DAGS))
from answers_test_dags import ALL_DAGS

# Each platform's connection (type, key) and the path under the server its API is configured at.
PLATFORMS = {
    "labelbox": ("remote_tasks_labelbox", LABELBOX_KEY, "/graphql"),
    "avala": ("remote_tasks_avala", AVALA_KEY, "/api/v1"),
}
# The first call of each DAG's task: the lookup of the project an export reads.
FIRST_CALL = {"labelbox": "/graphql", "avala": "/api/v1/users/me/projects/proj-001/"}
DAG_IDS = {"labelbox": "answers_labelbox", "avala": "answers_avala"}

NOT_FOUND_PAGE = b"<html><body><h1>404 Not Found</h1><hr>nginx</body></html>"
FORBIDDEN_PAGE = b"<html><body><h1>403 Forbidden</h1>Request blocked by the corporate proxy</body></html>"
UNAVAILABLE_PAGE = b"<html><body><h1>503 Service Temporarily Unavailable</h1>nginx</body></html>"


class Fixed:
    """A tiny loopback server's app: one answer (status, content type, body) to every request, and the paths
    it was asked for."""

    def __init__(self, status: int, content_type: str, body: bytes, headers: dict[str, str] | None = None):
        self.status, self.content_type, self.body, self.headers = status, content_type, body, headers
        self.asked: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        self.asked.append(scope["path"])
        await send_bytes(send, self.status, self.content_type, self.body, self.headers)


@pytest.fixture
def serve() -> Iterator[Any]:
    """Start a :class:`Fixed` server and point connection ``answers_conn`` of ``platform`` at it."""
    servers: list[ServerThread] = []

    def start(platform: str, app: Fixed) -> str:
        server = ServerThread(app).start()
        servers.append(server)
        conn_type, key, path = PLATFORMS[platform]
        set_connection("answers_conn", conn_type, server.url + path, key, {})
        return server.url

    yield start
    for server in servers:
        server.stop()


# -- 1. Labelbox: a 200 whose JSON is not a GraphQL answer -------------------------------------------------------


@pytest.mark.parametrize("body", [b"{}", b"[1,2,3]", b'{"errors": "none"}', b'{"data": null}'])
def test_a_labelbox_200_that_is_not_a_graphql_answer_names_the_url(serve, body):
    app = Fixed(200, "application/json", body)
    url = serve("labelbox", app)
    hook = hook_for_connection("answers_conn")
    with pytest.raises(UnexpectedAnswerError) as raised:
        hook.run(hook.platform.check_connection())
    error = raised.value
    assert isinstance(error, PermanentError)  # Airflow does not retry it
    text = str(error)
    assert text.startswith(
        f"{url}/graphql answered HTTP 200 with application/json, which is not a GraphQL answer"
    )
    assert repr(body.decode()) in text
    assert "The call was GetUserPyApi." in text and "https://api.labelbox.com/graphql" in text
    assert len(app.asked) == 1  # nor the executor

    ok, message = hook_for_connection("answers_conn").test_connection()
    assert not ok
    assert message == text


def test_a_labelbox_graphql_answer_still_reads():
    # the shapes Labelbox answers in, read as before: data, errors inside a 200, a rate limit as a message
    answer = HttpResponse(200, {"content-type": "application/json"}, b'{"data": {"user": {"id": "u"}}}')
    assert data_of("Q", answer) == {"user": {"id": "u"}}
    limited = HttpResponse(200, {}, b'{"message": "You have exceeded the rate limit"}')
    with pytest.raises(Exception, match="was rate-limited") as raised:
        data_of("Q", limited)
    assert is_transient(raised.value)
    refused = HttpResponse(
        401, {}, b'{"errors": [{"message": "m", "extensions": {"code": "AUTHENTICATION_ERROR"}}]}'
    )
    with pytest.raises(AuthenticationError):
        data_of("Q", refused)


# -- 2. error statuses in someone else's words -------------------------------------------------------------------


@pytest.mark.usefixtures("airflow_db")
@pytest.mark.parametrize("platform", list(PLATFORMS))
@pytest.mark.parametrize(
    ("status", "content_type", "body", "shown"),
    [
        (404, "text/html", NOT_FOUND_PAGE, "404 Not Found"),
        (403, "text/html", FORBIDDEN_PAGE, "Request blocked by the corporate proxy"),
        (404, "application/json", b'{"detail": "Not Found"}', '{"detail": "Not Found"}'),
        (200, "application/json", b"{}", "'{}'"),
    ],
)
def test_an_answer_from_a_wrong_endpoint_fails_once_naming_it(
    serve, capfd, platform, status, content_type, body, shown
):
    app = Fixed(status, content_type, body)
    url = serve(platform, app)
    result = DagResult(ALL_DAGS[DAG_IDS[platform]].test())
    assert result.task_state("remote") == "failed"
    assert result.try_number("remote") == 1  # retries=1, and no second try
    assert len(app.asked) == (2 if (platform, status) == ("avala", 200) else 1)  # nor a second request
    text = text_of(capfd)
    # Avala's lookup takes any object ("{}" too): its create, which must answer the export's uid, does not
    called = "/api/v1/exports/" if (platform, status) == ("avala", 200) else FIRST_CALL[platform]
    assert f"{url}{called} answered HTTP {status} with {content_type}" in text
    assert shown in text and "Check the connection's endpoint" in text
    assert "UnexpectedAnswerError" in text


@pytest.mark.usefixtures("airflow_db")
@pytest.mark.parametrize("platform", list(PLATFORMS))
def test_a_gateways_503_page_stays_transient(serve, capfd, platform):
    # Retry-After: 0, so that the executor's five tries of each Airflow try do not wait
    app = Fixed(503, "text/html", UNAVAILABLE_PAGE, {"Retry-After": "0"})
    url = serve(platform, app)
    result = DagResult(ALL_DAGS[DAG_IDS[platform]].test())
    assert result.task_state("remote") == "failed"
    assert result.try_number("remote") == 2  # Airflow's retry ran: the API behind the gateway may be back
    assert len(app.asked) == 10  # five tries of the lookup in each Airflow try
    text = text_of(capfd)
    assert f"{url}{FIRST_CALL[platform]} answered HTTP 503 after 5 tries with text/html" in text
    assert "503 Service Temporarily Unavailable" in text


def page(status: int, content_type: str, body: bytes) -> HttpResponse:
    return HttpResponse(status, {"content-type": content_type}, body, url="https://api.test/x/")


def errors_of(response: HttpResponse) -> list[Exception]:
    """What Labelbox's and Avala's code make of ``response`` to a call."""
    try:
        data_of("GetUserPyApi", response)
    except Exception as error:  # the error is what is tested
        labelbox = error
    else:
        raise AssertionError("Labelbox's code took the answer")
    return [labelbox, error_from_response("GET", "https://api.test/x/", response)]


@pytest.mark.parametrize(
    ("status", "permanent"),
    [(status, True) for status in (400, 401, 403, 404, 405)]
    + [(status, False) for status in (429, 500, 502, 503, 504)],
)
def test_only_a_gateway_status_in_someone_elses_words_is_worth_asking_again(status, permanent):
    for error in errors_of(page(status, "text/html", b"<html>proxy says no</html>")):
        assert is_permanent(error) is permanent and is_transient(error) is not permanent
        assert isinstance(error, UnexpectedAnswerError if permanent else TransportError)
        assert f"https://api.test/x/ answered HTTP {status} with text/html" in str(error)
        assert "proxy says no" in str(error)


@pytest.mark.parametrize(
    "body",
    [b'{"detail": "Not Found"}', b'{"error": "no such route"}', b"[]", b'"Not Found"'],
)
def test_a_json_404_of_another_service_is_not_a_missing_object(body):
    for error in errors_of(page(404, "application/json", body)):
        assert isinstance(error, UnexpectedAnswerError) and not isinstance(error, NotFoundError)
        assert "https://api.test/x/ answered HTTP 404 with application/json" in str(error)
        assert "Check the connection's endpoint" in str(error)


def test_avalas_own_errors_keep_their_meaning():
    # Django REST Framework's words: a missing object, a refused key, a validation error (an object or a list)
    missing = error_from_response(
        "GET", "https://api.test/x/", page(404, "application/json", b'{"detail": "Not found."}')
    )
    assert isinstance(missing, NotFoundError) and str(missing) == "GET /x/ failed with HTTP 404: Not found."
    cursor = error_from_response(
        "GET", "https://api.test/x/", page(404, "application/json", b'{"detail": "Invalid cursor"}')
    )
    assert isinstance(cursor, NotFoundError)
    refused = error_from_response(
        "GET", "https://api.test/x/", page(401, "application/json", b'{"detail": "Invalid API key."}')
    )
    assert isinstance(refused, AuthenticationError)
    for body in (b'{"project": ["This field is required."]}', b'["Give a project or a dataset."]'):
        invalid = error_from_response("POST", "https://api.test/x/", page(400, "application/json", body))
        assert isinstance(invalid, InvalidInputsError) and body.decode() in str(invalid)
