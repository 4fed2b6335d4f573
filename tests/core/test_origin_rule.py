"""Credentials go only to the API's own origin: one origin rule, in the core, whatever the platform hands it
(redirects, next-page links, download URLs, token endpoints)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import time

import pytest
from loopback_servers import (
    CONNECTIONS,
    SECRETS,
    Recorder,
    calls,
    connect,
    netloc,
    rehosted,
)

from airflow_remote_tasks.core.auth import HeaderAuth, authorized, on_origin
from airflow_remote_tasks.core.errors import ConfigurationError, TransportError
from airflow_remote_tasks.core.operation import HttpRequest, HttpResponse, origin
from airflow_remote_tasks.emulators.avala import AvalaEmulator
from airflow_remote_tasks.emulators.labelbox import LabelboxEmulator
from support import AVALA_KEY, LABELBOX_KEY

pytestmark = [pytest.mark.airflow, pytest.mark.usefixtures("airflow_db")]


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


def test_a_trailing_dot_names_the_same_origin():
    assert (
        origin("https://API.example.com.:443/x")
        == origin("https://api.example.com/y")
        == ("https://api.example.com")
    )
    assert origin("https://api.example.com./x") != origin("https://api.example.com.evil/x")
    assert origin("https://[::1]:443/") == "https://[::1]"  # IPv6 forms are left as they are


@pytest.mark.parametrize(
    ("url", "same"),
    [
        ("https://api.example.com/x?q=1", True),
        ("https://API.example.com:443/x", True),  # written otherwise: parsed
        ("https://api.example.com?x", True),
        ("https://api.example.com@evil.example/x", False),  # user info: the host is evil.example
        ("https://api.example.com.evil.example/x", False),
        ("https://api.example.com:8443/x", False),
        ("http://api.example.com/x", False),
    ],
)
def test_a_url_is_on_the_api_origin_exactly_when_its_origin_is(url: str, same: bool) -> None:
    assert on_origin(url, "https://api.example.com") is same is (origin(url) == "https://api.example.com")


def test_an_avala_download_gets_the_key_on_the_api_origin_only():
    """Canned answers: whatever download_url an export names, the platform leaves the decision to the core's
    origin rule (the same origin written otherwise keeps the key; storage or a look-alike host elsewhere gets
    none)."""
    from pydantic import SecretStr

    from airflow_remote_tasks.core.auth import authorized
    from airflow_remote_tasks.core.models import RunRef
    from airflow_remote_tasks.platforms.avala.config import AvalaConfig
    from airflow_remote_tasks.platforms.avala.platform import AvalaPlatform

    platform = AvalaPlatform(AvalaConfig(base_url="https://api.avala.ai/api/v1", api_key=SecretStr("avk_k")))
    ref = RunRef(platform="avala", run_id="exp-1", scope={"kind": "export"})
    for url, keyed in (
        ("https://API.avala.ai.:443/files/x.zip", True),
        ("https://api.avala.ai/files/x.zip", True),
        ("https://api.avala.ai.evil.example/files/x.zip", False),
        ("https://storage.example.com/x.zip?sig=1", False),
    ):
        operation = authorized(
            platform.download(ref, "result", io.BytesIO()), platform.auth, platform.api_origin
        )
        next(operation)  # GET /exports/exp-1/
        body = {"uid": "exp-1", "status": "exported", "download_url": url}
        fetch = operation.send(
            HttpResponse(200, {"content-type": "application/json"}, json.dumps(body).encode())
        )
        assert fetch.url == url and ("X-Avala-Api-Key" in fetch.headers) is keyed and fetch.sink
