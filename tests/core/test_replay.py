"""The replay helper drives operations through the real executors with canned answers and no network."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from airflow_remote_tasks.core.auth import HeaderAuth
from airflow_remote_tasks.core.errors import TransportError
from airflow_remote_tasks.core.operation import (
    HttpRequest,
    HttpResponse,
    Operation,
    StreamLimits,
    starting_run,
)
from airflow_remote_tasks.core.replay import Replay, Reply, UnansweredRequestError, reply

API = "https://api.example.com"


def read(path: str = "/runs/1") -> Operation[dict[str, object]]:
    response: HttpResponse = yield HttpRequest("GET", f"{API}{path}")
    return {"status": response.status, "body": response.json()}


def create() -> Operation[str]:
    response: HttpResponse = yield HttpRequest(
        "POST",
        f"{API}/runs",
        headers={"content-type": "application/json"},
        content=b'{"name": "r"}',
        idempotent=False,
    )
    return str(response.json()["id"])


class Signed:
    api_origin = API
    auth = HeaderAuth("X-Api-Key", "k-SECRET")


def test_a_canned_answer_is_the_operations_answer() -> None:
    replay = Replay([reply(json={"phase": "RUNNING"})])
    assert replay.run(read()) == {"status": 200, "body": {"phase": "RUNNING"}}
    [sent] = replay.requests
    assert (sent.method, str(sent.url)) == ("GET", f"{API}/runs/1")


def test_a_503_is_retried_by_the_executor_without_waiting() -> None:
    replay = Replay([reply(status=503), reply(status=503), reply(json={"ok": True})])
    assert replay.run(read())["body"] == {"ok": True}
    assert len(replay.requests) == 3 and replay.left == 0


def test_the_platforms_credentials_go_on_its_own_origin_only() -> None:
    def operation() -> Operation[None]:
        yield HttpRequest("GET", f"{API}/me")
        yield HttpRequest("GET", "https://files.example.org/blob")

    replay = Replay([reply(json={}), reply(json={})])
    replay.run(operation(), platform=Signed())
    assert [r.headers.get("x-api-key") for r in replay.requests] == ["k-SECRET", None]


def test_a_lost_answer_to_a_create_says_a_run_may_have_started() -> None:
    replay = Replay([reply(lost=True)])
    with pytest.raises(TransportError, match="broke before an answer came back") as raised:
        replay.run(starting_run(create()))
    assert raised.value.answer_lost
    assert raised.value.endpoint == f"POST {API}/runs"
    assert replay.bodies == [{"name": "r"}]  # the server received it: sent once, never again


def test_a_lost_answer_to_a_read_is_retried_and_says_no_run_started() -> None:
    replay = Replay([reply(lost=True), reply(json={"id": 1})])
    assert replay.run(read())["body"] == {"id": 1}
    replay = Replay([reply(lost=True)] * 5)
    with pytest.raises(TransportError) as raised:
        replay.run(read())
    assert not raised.value.answer_lost and len(replay.requests) == 5


def test_running_out_of_answers_fails_naming_the_request() -> None:
    def swallowing() -> Operation[str]:
        try:
            yield HttpRequest("POST", f"{API}/runs", content=b'{"x": 1}')
        except Exception:
            return "caught"  # an operation that handles every error still cannot hide it
        return "answered"

    with pytest.raises(UnansweredRequestError, match=r'POST https://api.example.com/runs with body {"x": 1}'):
        Replay([]).run(swallowing())


def test_a_handler_answers_by_request() -> None:
    def handler(request: httpx.Request) -> Reply:
        return reply(json={"path": request.url.path}) if request.method == "GET" else reply(status=404)

    replay = Replay(handler)
    assert replay.run(read("/a"))["body"] == {"path": "/a"}
    assert replay.run(read("/b"))["body"] == {"path": "/b"}
    assert len(replay.requests) == 2


def test_pauses_are_recorded_not_slept() -> None:
    def polled() -> Operation[int]:
        response: HttpResponse = yield HttpRequest("GET", f"{API}/later", pause=30.0)
        return response.status

    replay = Replay([reply(status=204)])
    assert replay.run(polled()) == 204
    assert replay.pauses == [30.0]


def test_the_async_path_drives_the_same_operation() -> None:
    replay = Replay([reply(status=502), reply(json={"id": "r-1"}, headers={"x-trace": "t"})])
    assert asyncio.run(replay.arun(read(), platform=Signed())) == {"status": 200, "body": {"id": "r-1"}}
    assert [r.headers["x-api-key"] for r in replay.requests] == ["k-SECRET", "k-SECRET"]
    replay = Replay([reply(lost=True)])
    with pytest.raises(TransportError) as raised:
        asyncio.run(replay.arun(starting_run(create())))
    assert raised.value.answer_lost
    assert json.loads(replay.requests[0].content) == {"name": "r"}


def test_a_canned_body_is_served_as_a_stream() -> None:
    def tail() -> Operation[bytes]:
        response: HttpResponse = yield HttpRequest(
            "POST", f"{API}/logs", stream=StreamLimits(max_bytes=1 << 10)
        )
        return response.content

    framed = b"\x00\x00\x00\x00\x02{}" * 3
    assert Replay([reply(content=framed)]).run(tail()) == framed
    assert asyncio.run(Replay([reply(content=framed)]).arun(tail())) == framed
    assert Replay([reply(json={"a": 1})]).run(tail()) == b'{"a": 1}'
