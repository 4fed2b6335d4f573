"""The core's rules for every platform: where credentials go, answers that are not the API's, what errors may
claim, reads that hang, inputs in a user's words, and run ids checked before any call."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_helpers import run_dag
from airflow_remote_tasks.core.auth import HeaderAuth, authorized
from airflow_remote_tasks.core.errors import (
    ConfigurationError,
    InvalidInputsError,
    PermanentError,
    TransportError,
    UnexpectedAnswerError,
)
from airflow_remote_tasks.core.operation import HttpRequest, HttpResponse, Operation
from airflow_remote_tasks.core.retry import DEFAULT_POLICY
from airflow_remote_tasks.emulators.avala import AvalaEmulator
from airflow_remote_tasks.emulators.labelbox import LabelboxEmulator
from airflow_remote_tasks.emulators.server import ServerThread, send_bytes
from airflow_remote_tasks.hooks.base import RemoteTaskHook, hook_for_connection
from support import AVALA_KEY, JULEP_KEY, LABELBOX_KEY, set_connection

pytestmark = [pytest.mark.airflow, pytest.mark.usefixtures("airflow_db")]

FLYTE_TOKEN = "tok-FLYTE-secret-0042"
# Each platform's connection (type, password, extra) and the header its credential travels in.
CONNECTIONS: dict[str, tuple[str, str, dict[str, Any], str]] = {
    "flyte": (
        "remote_tasks_flyte",
        "",
        {"access_token": FLYTE_TOKEN, "auth_header": "authorization"},
        "authorization",
    ),
    "julep": ("remote_tasks_julep", JULEP_KEY, {}, "authorization"),
    "labelbox": ("remote_tasks_labelbox", LABELBOX_KEY, {}, "authorization"),
    "avala": ("remote_tasks_avala", AVALA_KEY, {}, "x-avala-api-key"),
}
SECRETS = {"flyte": FLYTE_TOKEN, "julep": JULEP_KEY, "labelbox": LABELBOX_KEY, "avala": AVALA_KEY}


class Recorder:
    """A tiny loopback server that records each request's headers and gives one fixed answer, or a redirect
    for the paths in ``redirects``."""

    def __init__(
        self,
        status: int = 200,
        content_type: str = "application/json",
        body: bytes = b"{}",
        redirects: dict[str, str] | None = None,
    ) -> None:
        self.status, self.content_type, self.body = status, content_type, body
        self.redirects = redirects or {}
        self.seen: list[dict[str, str]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        self.seen.append({":path": scope["path"], **headers})
        if scope["path"] in self.redirects:
            await send_bytes(send, 302, "text/plain", b"", {"Location": self.redirects[scope["path"]]})
        else:
            await send_bytes(send, self.status, self.content_type, self.body)


@pytest.fixture
def serve() -> Iterator[Any]:
    """Start recorders (or wrapped apps) on loopback ports of their own; each is stopped at the end."""
    servers: list[ServerThread] = []

    def start(app: Any) -> str:
        server = ServerThread(app).start()
        servers.append(server)
        return server.url

    yield start
    for server in servers:
        server.stop()


def rehosted(app: Any, netloc: str) -> Any:
    """``app`` as if its public address were ``netloc``: the links it hands back point there (another origin)."""

    async def wrapped(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = [(k, netloc.encode() if k.lower() == b"host" else v) for k, v in scope["headers"]]
            scope = {**scope, "headers": headers}
        await app(scope, receive, send)

    return wrapped


def connect(platform: str, host: str, conn_id: str = "", **extra: Any) -> RemoteTaskHook:
    conn_type, password, fields, _ = CONNECTIONS[platform]
    conn_id = conn_id or f"{platform}_rules"
    set_connection(conn_id, conn_type, host, password, {**fields, **extra})
    return hook_for_connection(conn_id)


def calls(*requests: HttpRequest) -> Operation[list[HttpResponse]]:
    answers = []
    for request in requests:
        answers.append((yield request))
    return answers


def netloc(url: str) -> str:
    return url.split("://", 1)[1]


# -- 1. credentials go only to the API's own origin -----------------------------------------------------------


@pytest.mark.parametrize("platform", list(CONNECTIONS))
@pytest.mark.parametrize("mode", ["worker", "triggerer"])
def test_credentials_reach_the_api_origin_only(platform, mode, serve):
    api, other = Recorder(), Recorder()
    api_url, other_url = serve(api), serve(other)
    hook = connect(platform, api_url)
    header = CONNECTIONS[platform][3]
    operation = calls(
        HttpRequest("POST", f"{api_url}/a", content=b"{}"), HttpRequest("GET", f"{other_url}/b")
    )
    if mode == "worker":
        hook.run(operation)
    else:
        asyncio.run(hook.arun(operation))
    [at_api], [at_other] = api.seen, other.seen
    assert SECRETS[platform] in at_api[header]  # the same origin still gets it
    assert header not in at_other
    assert all(SECRETS[platform] not in value for value in at_other.values())


@pytest.mark.parametrize("mode", ["worker", "triggerer"])
def test_a_download_redirected_off_the_origin_loses_a_custom_key_header(mode, serve):
    elsewhere = Recorder(content_type="application/zip", body=b"PK-data")
    elsewhere_url = serve(elsewhere)
    api = Recorder(redirects={"/api/v1/_files/export.zip": f"{elsewhere_url}/signed/export.zip?sig=1"})
    api_url = serve(api)
    hook = connect("avala", f"{api_url}/api/v1")
    sink = io.BytesIO()
    operation = calls(HttpRequest("GET", f"{api_url}/api/v1/_files/export.zip", sink=sink))
    [answer] = hook.run(operation) if mode == "worker" else asyncio.run(hook.arun(operation))
    assert answer.status == 200 and sink.getvalue() == b"PK-data"
    assert api.seen[0]["x-avala-api-key"] == AVALA_KEY
    [followed] = elsewhere.seen
    assert followed[":path"] == "/signed/export.zip" and "x-avala-api-key" not in followed


@pytest.mark.parametrize("mode", ["worker", "triggerer"])
def test_a_download_redirected_within_the_origin_keeps_the_key(mode, serve):
    api = Recorder(content_type="application/zip", body=b"PK-data", redirects={"/a.zip": "/b.zip"})
    api_url = serve(api)
    hook = connect("avala", api_url)
    sink = io.BytesIO()
    operation = calls(HttpRequest("GET", f"{api_url}/a.zip", sink=sink))
    hook.run(operation) if mode == "worker" else asyncio.run(hook.arun(operation))
    assert sink.getvalue() == b"PK-data"
    assert [(seen[":path"], seen["x-avala-api-key"]) for seen in api.seen] == [
        ("/a.zip", AVALA_KEY),
        ("/b.zip", AVALA_KEY),
    ]


def test_credentials_never_go_over_http_where_the_api_is_https():
    signed: list[str] = []
    operation = calls(
        HttpRequest("GET", "https://api.example.com/v1/a"),
        HttpRequest("GET", "https://API.example.com:443/v1/b"),
        HttpRequest("GET", "http://api.example.com/v1/c"),
        HttpRequest("GET", "https://api.example.com:8443/v1/d"),
        HttpRequest("GET", "https://files.example.com/v1/e"),
    )
    steps = authorized(operation, HeaderAuth("X-Key", "secret-key-1"), "https://api.example.com/v1")
    request = next(steps)
    try:
        while True:
            if "X-Key" in request.headers:
                signed.append(request.url)
            request = steps.send(HttpResponse(200, {}, b"{}"))
    except StopIteration:
        pass
    assert signed == ["https://api.example.com/v1/a", "https://API.example.com:443/v1/b"]


def token_request_of(token_endpoint: str) -> HttpRequest:
    """Sign a call to an https:// Flyte API whose connection names ``token_endpoint`` (its Token endpoint field,
    which the server's advertised one gives way to); the request the client credentials would be sent in (the
    operations are sans-I/O: answered here by hand)."""
    from pydantic import SecretStr

    from airflow_remote_tasks.platforms.flyte.auth import FlyteAuth
    from airflow_remote_tasks.platforms.flyte.config import FlyteConfig

    endpoint = f"https://flyte-{abs(hash(token_endpoint))}.example"  # its own discovery cache entry
    config = FlyteConfig(
        endpoint=endpoint,
        auth_mode="client_credentials",
        client_id="airflow",
        client_secret=SecretStr("s3cr3t-CLIENT-77"),
        token_endpoint=token_endpoint,
    )
    steps = authorized(calls(HttpRequest("POST", f"{endpoint}/x")), FlyteAuth(config), endpoint)
    json_answer = {"content-type": "application/json"}
    assert "GetOAuth2Metadata" in next(steps).url
    body = json.dumps({"tokenEndpoint": f"{endpoint}/advertised/token"}).encode()
    assert "GetPublicClientConfig" in steps.send(HttpResponse(200, json_answer, body)).url
    return steps.send(HttpResponse(200, json_answer, b"{}"))


def test_client_credentials_never_go_over_http_where_the_api_is_https():
    # The core refuses an auth's own call over http to an https API, whatever the platform let through.
    signed = token_request_of("https://idp.example/oauth2/token")
    assert signed.url == "https://idp.example/oauth2/token"
    assert signed.headers["Authorization"].startswith("Basic ")
    with pytest.raises(ConfigurationError, match=r"http://idp.example/oauth2/token would go over plain http"):
        token_request_of("http://idp.example/oauth2/token")


def test_avala_next_page_on_another_origin_gets_no_key(serve):
    stranger = Recorder(body=json.dumps({"results": [], "next": None}).encode())
    stranger_url = serve(stranger)
    emulator = AvalaEmulator(api_key=AVALA_KEY, tasks=150, pace=0.001)
    api_url = serve(rehosted(emulator.app, netloc(stranger_url)))  # its next links name the stranger
    hook = connect("avala", f"{api_url}/api/v1")
    runs = hook.run(hook.platform.list_runs({"project": "proj-001"}))
    assert len(runs) == 100  # the first page, from the API itself (which demands the key)
    [followed] = stranger.seen
    assert followed[":path"] == "/api/v1/tasks/" and "x-avala-api-key" not in followed


def test_avala_next_page_on_the_same_origin_keeps_the_key(avala):
    from airflow_remote_tasks.platforms.avala.hook import AvalaHook

    hook = AvalaHook("avala_default")
    runs = hook.run(hook.platform.list_runs({"project": "proj-001"}))
    assert len(runs) > 100  # every page read: the emulator answers 401 to a page asked for without the key


def test_avala_download_url_on_another_origin_gets_no_key(serve):
    from example_avala import PROJECT

    from airflow_remote_tasks.core.models import RunOrigin

    storage = Recorder(content_type="application/zip", body=b"PK-export")
    storage_url = serve(storage)
    emulator = AvalaEmulator(api_key=AVALA_KEY, tasks=5, pace=0.001, job_seconds=0.2)
    api_url = serve(rehosted(emulator.app, netloc(storage_url)))  # its download_url names the storage
    hook = connect("avala", f"{api_url}/api/v1")
    platform = hook.platform
    interface = hook.run(platform.resolve_task("export", "latest"))
    wire = platform.prepare_inputs(interface, {"project": PROJECT})
    origin = RunOrigin(dag_id="d", run_id="r", task_id="t", map_index=-1, generation=0)
    ref = hook.run(platform.submit(interface, wire, origin=origin, labels={}, env={}))
    deadline = time.monotonic() + 20
    while not hook.run(platform.status(ref)).is_terminal and time.monotonic() < deadline:
        time.sleep(0.1)
    sink = io.BytesIO()
    hook.run(platform.download(ref, "result", sink))
    assert sink.getvalue() == b"PK-export"
    [fetched] = storage.seen
    assert "x-avala-api-key" not in fetched


def test_labelbox_export_files_on_another_origin_get_no_key(serve):
    from airflow_remote_tasks.core.models import StreamedOutput

    files = Recorder(content_type="application/x-ndjson", body=b'{"row": 1}\n')
    files_url = serve(files)
    emulator = LabelboxEmulator(api_key=LABELBOX_KEY, task_seconds=0.1, chunk_bytes=700)
    api_url = serve(rehosted(emulator.app, netloc(files_url)))  # its chunk URLs name the file server
    hook = connect("labelbox", f"{api_url}/graphql")
    platform = hook.platform
    from airflow_remote_tasks.core.models import RunOrigin

    interface = hook.run(platform.resolve_task("export_project", "latest"))
    project = next(iter(emulator.state.projects))
    wire = platform.prepare_inputs(interface, {"project_id": project})
    origin = RunOrigin(dag_id="d", run_id="r", task_id="t", map_index=-1, generation=0)
    ref = hook.run(platform.submit(interface, wire, origin=origin, labels={}, env={}))
    deadline = time.monotonic() + 20
    while not hook.run(platform.status(ref)).is_terminal and time.monotonic() < deadline:
        time.sleep(0.1)
    output = hook.run(platform.outputs(ref))
    assert isinstance(output, StreamedOutput)
    for stream in output.sizes:
        # the stand-in file server's body is not the export (the download says so): only its headers matter
        with contextlib.suppress(TransportError):
            hook.run(platform.download(ref, stream, io.BytesIO()))
    assert files.seen, "no file URL was fetched"
    assert all("authorization" not in seen for seen in files.seen)


# -- 2. answers that are not the API's -----------------------------------------------------------------------

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


# -- 3. messages say only what is known ----------------------------------------------------------------------


def text_of(capfd: pytest.CaptureFixture[str]) -> str:
    out = capfd.readouterr()
    return out.out + out.err


def test_a_submit_whose_answer_was_lost_says_a_run_may_have_started(avala, capfd):
    faults = avala.emulator.app.faults
    # the job is created but its answer is lost; the lookup that would find it is then refused
    faults.update({"lose_answer": "POST /api/v1/projects/", "lose_answer_next": 1})
    faults.update({"fail_method": "GET /api/v1/auto-label-jobs/", "fail_method_next": 100})
    result = run_dag("av_autolabel_worker")
    assert result.task_state("remote") == "failed"
    text = text_of(capfd)
    assert "so a run may have started" in text
    assert "no run was started" not in text
    assert faults.lose_answer_next == 0


def test_a_submit_that_reached_nothing_says_no_run_was_started(avala, capfd):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()  # nothing listens there now: every connection is refused
    avala.connect(host=f"http://127.0.0.1:{port}/api/v1")
    result = run_dag("av_export")
    assert result.task_state("remote") == "failed"
    text = text_of(capfd)
    assert "Could not start a run of export" in text
    assert "no run was started" in text
    assert "may have started" not in text and "No answer came back" not in text


# -- 4. reads that hang ---------------------------------------------------------------------------------------


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A server that accepts connections (the kernel's backlog) and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(32)
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    listener.close()


@pytest.mark.parametrize("platform", list(CONNECTIONS))
def test_a_server_that_never_answers_fails_within_the_read_timeout(platform, silent_server):
    hook = connect(platform, silent_server, read_timeout=0.2)
    started = time.monotonic()
    with pytest.raises(TransportError) as raised:
        hook.run(hook.platform.check_connection())
    took = time.monotonic() - started
    assert "sent no answer within the connection's read timeout in 5 tries" in str(raised.value)
    assert 5 * 0.2 <= took <= DEFAULT_POLICY.longest_try(0.2) + 2.0


def test_the_longest_try_is_read_timeout_times_attempts_plus_backoff():
    assert DEFAULT_POLICY.longest_backoff() == 0.5 + 1 + 2 + 4
    assert DEFAULT_POLICY.longest_try(30) == 157.5
    assert DEFAULT_POLICY.longest_try(30, idempotent=False) == 30


@pytest.mark.parametrize("value", ["soon", 0, -1, True])
def test_a_bad_read_timeout_names_the_field(value, serve):
    with pytest.raises(ConfigurationError, match="The Read timeout of connection 'julep_rules' must be"):
        connect("julep", serve(Recorder()), read_timeout=value).platform  # noqa: B018


def test_the_read_timeout_is_a_field_of_every_connection_type():
    from airflow_remote_tasks.provider_info import provider_info

    for connection in provider_info()["connection-types"]:
        assert connection["conn-fields"]["read_timeout"]["schema"]["default"] == 30


# -- 5. input type errors in a user's words --------------------------------------------------------------------


def test_labelbox_rows_of_the_wrong_type_read_as_a_users_words(labelbox):
    from airflow_remote_tasks.platforms.labelbox.hook import LabelboxHook

    hook = LabelboxHook("labelbox_default")
    interface = hook.run(hook.platform.resolve_task("upsert_data_rows", "latest"))
    with pytest.raises(InvalidInputsError) as raised:
        hook.platform.prepare_inputs(interface, {"dataset_id": "ds1", "rows": 3})
    text = str(raised.value)
    assert "- inputs.rows must be a list of rows or the URI of an NDJSON file; got int" in text
    assert "Input should be" not in text and "list[" not in text


def test_avala_inputs_of_the_wrong_type_read_as_a_users_words(avala):
    from airflow_remote_tasks.platforms.avala.hook import AvalaHook

    hook = AvalaHook("avala_default")
    interface = hook.run(hook.platform.resolve_task("auto_label", "latest"))
    with pytest.raises(InvalidInputsError) as raised:
        hook.platform.prepare_inputs(
            interface,
            {"project": "proj-001", "confidence_threshold": "high", "labels": ["car", 7], "colour": 1},
        )
    text = str(raised.value)
    assert "- inputs.confidence_threshold must be a number; got str" in text
    assert "- inputs.labels[1] must be a string; got int" in text
    assert "- inputs.colour is not known here" in text
    assert "Input should be" not in text


def test_inputs_that_are_not_a_mapping_fail_when_the_dag_is_parsed():
    from airflow_remote_tasks import RemoteTaskOperator

    with pytest.raises(ConfigurationError, match=r"inputs must be a mapping of names to values.*got list"):
        RemoteTaskOperator(task_id="t", conn_id="julep_default", task="hello", inputs=[{"name": "Ada"}])


# -- 6. run ids are checked before any call -----------------------------------------------------------------

TRAVERSAL = "../users/me/projects/p"


@pytest.mark.parametrize("fixture", ["flyte", "julep", "labelbox", "avala"])
def test_a_path_as_run_id_is_refused_before_any_request(fixture, request):
    running = request.getfixturevalue(fixture)
    hook = hook_for_connection(f"{fixture}_default")
    with pytest.raises(ConfigurationError, match=r"run_id='\.\./users/me/projects/p' is not a valid"):
        hook.find_run(TRAVERSAL)
    assert sum(running.emulator.app.calls.values()) == 0


def test_the_sensor_refuses_a_path_as_run_id_before_any_request(avala, capfd):
    result = run_dag("av_sensor", conf={"run": TRAVERSAL})
    assert result.task_state("sensor_poke") == "failed"
    assert result.task_state("sensor_deferred") == "failed"
    assert "run_id='../users/me/projects/p' is not a valid Avala run id" in text_of(capfd)
    assert sum(avala.emulator.app.calls.values()) == 0


@pytest.fixture(autouse=True)
def _forget_rule_connections() -> Iterator[None]:
    yield
    for key in [k for k in os.environ if k.endswith("_RULES") or k == "AIRFLOW_CONN_REFUSED_CONN"]:
        os.environ.pop(key, None)
