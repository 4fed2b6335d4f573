"""Review findings on the core's rules: what a failed submit may claim, a download's error body read only as far
as it is quoted, the origin rule alone deciding where credentials go, and Avala answers of the wrong shape."""

from __future__ import annotations

import asyncio
import io
import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_remote_tasks.core.errors import ApiError, RemoteTaskError, TransportError, UnexpectedAnswerError
from airflow_remote_tasks.core.executors import DOWNLOAD_ERROR_BYTES, aexecute, execute
from airflow_remote_tasks.core.operation import HttpRequest, HttpResponse, Operation, origin
from airflow_remote_tasks.core.retry import RetryPolicy
from airflow_remote_tasks.core.transport import ClientSettings, async_client, sync_client
from airflow_remote_tasks.emulators.server import ServerThread, read_body, send_bytes
from airflow_remote_tasks.operators.remote_task import _submit_failed
from support import AVALA_KEY, set_connection

pytestmark = [pytest.mark.airflow, pytest.mark.usefixtures("airflow_db")]

QUICK = RetryPolicy(attempts=5, initial_backoff=0.01, max_backoff=0.01)
SETTINGS = ClientSettings(read_timeout=0.3, connect_timeout=2.0)


def run(operation: Operation[Any], mode: str, policy: RetryPolicy = QUICK) -> Any:
    """``operation`` on a real client: the worker's executor or the triggerer's."""
    if mode == "worker":
        with sync_client(SETTINGS) as client:
            return execute(operation, client, policy)

    async def in_loop() -> Any:
        async with async_client(SETTINGS) as client:
            return await aexecute(operation, client, policy)

    return asyncio.run(in_loop())


def refused_if_answered(request: HttpRequest) -> Operation[None]:
    response = yield request
    raise ApiError(f"The platform refused: HTTP {response.status}", status=response.status)


class Scripted:
    """A loopback server whose n-th request gets the n-th behaviour: ("stall", seconds) or (status, body)."""

    def __init__(self, *script: tuple[Any, Any]) -> None:
        self.script = list(script)
        self.seen: list[str] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await read_body(receive)
        self.seen.append(f"{scope['method']} {scope['path']}")
        what, value = self.script[min(len(self.seen), len(self.script)) - 1]
        if what == "stall":
            await asyncio.sleep(value)
            return
        await send_bytes(send, what, "application/json", value)


@pytest.fixture
def serve() -> Iterator[Any]:
    servers: list[ServerThread] = []

    def start(app: Any) -> str:
        servers.append(ServerThread(app).start())
        return servers[-1].url

    yield start
    for server in servers:
        server.stop()


# -- 1. "a run may have started" only after a call that starts one lost its answer --------------------------


@pytest.mark.parametrize("mode", ["worker", "triggerer"])
def test_a_create_whose_retry_got_an_answer_claims_no_lost_answer(mode, serve):
    url = serve(Scripted(("stall", 2.0), (400, b'{"error": "bad input"}')))
    # a create with an idempotency key: its first try's answer is lost, the second is answered
    create = HttpRequest("POST", f"{url}/runs", content=b"{}", starts_run=True)
    with pytest.raises(ApiError) as raised:
        run(refused_if_answered(create), mode)
    assert raised.value.answer_lost is False
    message = str(_submit_failed("t", raised.value))
    assert "The platform refused it, so no run was started." in message
    assert "may have started" not in message


@pytest.mark.parametrize("mode", ["worker", "triggerer"])
def test_a_create_whose_every_try_lost_its_answer_may_have_started_a_run(mode, serve):
    url = serve(Scripted(("stall", 2.0)))
    create = HttpRequest("POST", f"{url}/runs", content=b"{}", starts_run=True)
    with pytest.raises(TransportError) as raised:
        run(refused_if_answered(create), mode, RetryPolicy(attempts=2, initial_backoff=0.01))
    assert raised.value.answer_lost is True
    assert "so a run may have started" in str(_submit_failed("t", raised.value))


class ClosingListener:
    """Accepts one connection and never answers it, then stops listening: later connects are refused."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept_once, daemon=True).start()

    def _accept_once(self) -> None:
        conn, _ = self.sock.accept()
        self.held.append(conn)
        self.sock.close()

    def close(self) -> None:
        for conn in self.held:
            conn.close()


@pytest.mark.parametrize("mode", ["worker", "triggerer"])
@pytest.mark.parametrize("starts_run", [False, True])
def test_a_try_sent_then_refused_connections_never_say_nothing_was_sent(mode, starts_run):
    listener = ClosingListener()
    try:
        request = HttpRequest("POST", f"{listener.url}/graphql", content=b"{}", starts_run=starts_run)
        with pytest.raises(TransportError) as raised:
            run(refused_if_answered(request), mode)
    finally:
        listener.close()
    text = str(raised.value)
    assert "nothing was sent" not in text
    assert "on the last of 5 tries (ConnectError" in text
    assert "an earlier try was sent and its answer was lost (ReadTimeout)" in text
    # a read (GraphQL reads are POSTs too) that lost its answer started nothing
    assert raised.value.answer_lost is starts_run
    assert ("may have started" in str(_submit_failed("t", raised.value))) is starts_run


def test_connections_refused_on_every_try_say_nothing_was_sent():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    listener.close()
    with pytest.raises(TransportError) as raised:
        run(refused_if_answered(HttpRequest("POST", f"{url}/runs", starts_run=True)), "worker")
    assert "in 5 tries (ConnectError" in str(raised.value) and "nothing was sent" in str(raised.value)
    assert raised.value.answer_lost is False


def test_a_lost_token_answer_then_a_refused_create_says_refused(flyte_with_auth, caplog):
    from test_trigger_and_transport import api_key

    from airflow_remote_tasks.core.auth import TOKENS
    from airflow_remote_tasks.core.models import RunOrigin
    from airflow_remote_tasks.hooks.base import hook_for_connection

    flyte = flyte_with_auth
    flyte.connect(host="", password=api_key(flyte.url, "airflow", "s3cr3t-VALUE-42"))
    hook = hook_for_connection("flyte_default")
    platform = hook.platform
    interface = hook.run(platform.resolve_task("demo.say_hello", "latest"))
    wire = platform.prepare_inputs(interface, {"name": "Ada", "n": 1})
    TOKENS._tokens.clear()  # the token has run out: the submit asks for a new one first
    faults = flyte.emulator.app.faults
    faults.update({"lose_answer": "POST /oauth2/token", "lose_answer_next": 1})
    faults.update({"fail_method": "CreateRun", "fail_method_next": 1, "error_status": 400})
    origin = RunOrigin(dag_id="d", run_id="r", task_id="t", map_index=-1, generation=0)
    with pytest.raises(RemoteTaskError) as raised:
        hook.run(platform.submit(interface, wire, origin=origin, labels={}, env={}))
    assert faults.lose_answer_next == 0 and faults.fail_method_next == 0
    assert "POST /oauth2/token failed" in caplog.text  # the token's lost answer was asked again
    message = str(_submit_failed("demo.say_hello", raised.value))
    assert "The platform refused it, so no run was started." in message
    assert "may have started" not in message
    assert flyte.runs == []


# -- 6. a failed download's error body is read only as far as it is quoted ---------------------------------------


async def endless_error(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """HTTP 404 whose body goes on (for 10 s, far longer than any test waits)."""
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 404, "headers": [(b"content-type", b"text/html")]})
    chunk = b"<p>not here</p>" * 4096
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await asyncio.sleep(0)
    await send({"type": "http.response.body", "body": b""})


def download(request: HttpRequest) -> Operation[HttpResponse]:
    return (yield request)


@pytest.mark.parametrize("mode", ["worker", "triggerer"])
def test_a_download_answered_with_an_endless_error_page_returns_promptly(mode, serve):
    url = serve(endless_error)
    sink = io.BytesIO()
    started = time.monotonic()
    response = run(download(HttpRequest("GET", f"{url}/export.zip", sink=sink)), mode)
    took = time.monotonic() - started
    assert response.status == 404 and took < 3.0, took
    assert len(response.content) == DOWNLOAD_ERROR_BYTES and response.content.startswith(b"<p>not here</p>")
    assert sink.getvalue() == b""


# -- 5 and 7. one origin rule, in the core ---------------------------------------------------------------


def test_a_trailing_dot_names_the_same_origin():
    assert (
        origin("https://API.example.com.:443/x")
        == origin("https://api.example.com/y")
        == ("https://api.example.com")
    )
    assert origin("https://api.example.com./x") != origin("https://api.example.com.evil/x")
    assert origin("https://[::1]:443/") == "https://[::1]"  # IPv6 forms are left as they are


def test_avala_download_on_the_api_origin_written_otherwise_carries_the_key():
    """Canned answers: the platform leaves the decision to the core's origin rule."""
    from pydantic import SecretStr

    from airflow_remote_tasks.core.auth import authorized
    from airflow_remote_tasks.core.models import RunRef
    from airflow_remote_tasks.platforms.avala.config import AvalaConfig
    from airflow_remote_tasks.platforms.avala.platform import AvalaPlatform

    platform = AvalaPlatform(AvalaConfig(base_url="https://api.avala.ai/api/v1", api_key=SecretStr("avk_k")))
    ref = RunRef(platform="avala", run_id="exp-1", scope={"kind": "export"})
    for url, keyed in (
        ("https://API.avala.ai.:443/files/x.zip", True),
        ("https://api.avala.ai.evil.example/files/x.zip", False),
    ):
        operation = authorized(
            platform.download(ref, "result", io.BytesIO()), platform.auth, platform.api_origin
        )
        next(operation)  # GET /exports/exp-1/
        body = {"uid": "exp-1", "status": "exported", "download_url": url}
        fetch = operation.send(
            HttpResponse(200, {"content-type": "application/json"}, json.dumps(body).encode())
        )
        assert fetch.url == url and ("X-Avala-Api-Key" in fetch.headers) is keyed


# -- 4. Avala answers of the wrong shape ------------------------------------------------------------------


def answering(status: int, body: bytes) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await send_bytes(send, status, "application/json", body)

    return app


@pytest.mark.parametrize(("status", "body"), [(200, b"{}"), (204, b""), (200, b'{"results": [1]}')])
def test_avala_connection_test_fails_on_an_answer_that_is_no_page(status, body, serve):
    from airflow_remote_tasks.hooks.base import hook_for_connection

    url = serve(answering(status, body))
    set_connection("avala_shape", "remote_tasks_avala", url, AVALA_KEY, {})
    ok, message = hook_for_connection("avala_shape").test_connection()
    assert not ok
    assert f"{url}/users/me/projects/" in message and "which is not an Avala page" in message
    assert (repr(body.decode()) if body else "an empty body") in message


def test_avala_task_answered_with_a_list_is_an_unexpected_answer(serve):
    from airflow_remote_tasks.core.models import RunRef
    from airflow_remote_tasks.hooks.base import hook_for_connection

    url = serve(answering(200, b"[1,2,3]"))
    set_connection("avala_shape", "remote_tasks_avala", url, AVALA_KEY, {})
    hook = hook_for_connection("avala_shape")
    with pytest.raises(UnexpectedAnswerError) as raised:
        hook.run(hook.platform.status(RunRef(platform="avala", run_id="t-1", scope={"kind": "task"})))
    assert f"{url}/tasks/t-1/" in str(raised.value) and "'[1,2,3]'" in str(raised.value)
    assert isinstance(raised.value, RemoteTaskError)


@pytest.fixture(autouse=True)
def _forget_connections() -> Iterator[None]:
    yield
    import os

    os.environ.pop("AIRFLOW_CONN_AVALA_SHAPE", None)


def recorded(operation: Operation[Any], seen: list[HttpRequest]) -> Operation[Any]:
    """``operation``, with every request it sends (after signing) kept in ``seen``."""
    from airflow_remote_tasks.core.operation import relayed

    def exchange(request: HttpRequest) -> Operation[HttpResponse]:
        seen.append(request)
        return (yield request)

    return (yield from relayed(operation, exchange))


# Each platform's job, its inputs, and how its create call is recognised among the submit's requests.
SUBMITS: dict[str, tuple[Any, dict[str, Any], str]] = {
    "flyte": ("demo.say_hello", {"name": "Ada", "n": 1}, "CreateRun"),
    "julep": (None, {"name": "Ada", "times": 1}, "/executions"),
    "labelbox": ("export_project", {"project_id": None}, "exportDataRowsInProject"),
    "avala": ("auto_label", {"project": "proj-001"}, "/auto-label/"),
}


@pytest.mark.parametrize("fixture", list(SUBMITS))
def test_only_the_call_that_creates_the_run_is_marked_as_starting_one(fixture, request):
    from airflow_remote_tasks.core.models import RunOrigin
    from airflow_remote_tasks.hooks.base import hook_for_connection

    running = request.getfixturevalue(fixture)
    task, inputs, create = SUBMITS[fixture]
    if fixture == "julep":
        from airflow_helpers import load_dag

        task = load_dag("j_hello_worker").get_task("remote").task  # its task definition
    if fixture == "labelbox":
        inputs = {"project_id": next(iter(running.emulator.state.projects))}
    hook = hook_for_connection(f"{fixture}_default")
    platform = hook.platform
    interface = hook.run(platform.resolve_task(task, "latest"))
    wire = platform.prepare_inputs(interface, inputs)
    origin = RunOrigin(dag_id="d", run_id="r", task_id="t", map_index=-1, generation=0)
    seen: list[HttpRequest] = []
    hook.run(recorded(platform.submit(interface, wire, origin=origin, labels={}, env={}), seen))
    marked = [r for r in seen if r.starts_run]
    assert len(marked) == 1, [(r.method, r.url, r.starts_run) for r in seen]
    assert create in marked[0].url or create.encode() in (marked[0].content or b"")


# -- 2. inputs filled in when the task runs ------------------------------------------------------------


def review_dag(dag_id: str) -> Any:
    import sys

    from airflow_helpers import DAGS

    sys.path.insert(0, str(DAGS))
    import review_test_dags

    return getattr(review_test_dags, dag_id)


@pytest.mark.parametrize("how", ["xcomarg", "template"])
def test_inputs_from_an_upstream_task_reach_the_run(how, flyte):
    from airflow_helpers import DagResult

    result = DagResult(review_dag(f"review_inputs_{how}").test())
    assert result.task_state("remote") == "success"
    assert len(flyte.runs_of("demo.say_hello")) == 1
    assert result.xcom("remote") == "Hello, Grace! Hello, Grace!"


def test_a_template_that_renders_to_a_string_fails_naming_inputs(flyte, capfd):
    from airflow_helpers import DagResult

    result = DagResult(review_dag("review_inputs_text").test())
    assert result.task_state("remote") == "failed"
    out = capfd.readouterr()
    assert "inputs must be a mapping of names to values, but it rendered to a str" in out.out + out.err
    assert flyte.runs == []
