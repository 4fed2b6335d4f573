"""create_once: look up, create, and after a lost answer look up again before creating again."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_remote_tasks.core.create_once import create_once
from airflow_remote_tasks.core.errors import ApiError, RemoteTaskError, TransportError
from airflow_remote_tasks.core.operation import HttpRequest, HttpResponse, Operation
from airflow_remote_tasks.core.replay import Replay, reply

API = "https://api.example.com"


def find() -> Operation[str | None]:
    response: HttpResponse = yield HttpRequest("GET", f"{API}/runs?key=k")
    items: list[dict[str, Any]] = response.json()["items"]
    return str(items[0]["id"]) if items else None


def create() -> Operation[str]:
    response: HttpResponse = yield HttpRequest(
        "POST", f"{API}/runs", content=b'{"key": "k"}', idempotent=False
    )
    if response.status >= 400:
        raise ApiError(f"HTTP {response.status}", status=response.status, retryable=response.status >= 500)
    return str(response.json()["id"])


def calls(replay: Replay) -> list[str]:
    return [request.method for request in replay.requests]


def test_a_run_found_first_is_attached_to_and_nothing_is_created() -> None:
    replay = Replay([reply(json={"items": [{"id": "r-1"}]})])
    assert replay.run(create_once(find, create)) == "r-1"
    assert calls(replay) == ["GET"]


def test_a_run_not_found_is_created_once() -> None:
    replay = Replay([reply(json={"items": []}), reply(json={"id": "r-2"})])
    assert replay.run(create_once(find, create)) == "r-2"
    assert calls(replay) == ["GET", "POST"]


def test_without_looking_first_the_create_is_sent_at_once() -> None:
    replay = Replay([reply(json={"id": "r-3"})])
    assert replay.run(create_once(find, create, look_first=False)) == "r-3"
    assert calls(replay) == ["POST"]


def test_after_a_lost_answer_the_run_the_create_started_is_found_and_attached_to() -> None:
    replay = Replay([reply(json={"items": []}), reply(lost=True), reply(json={"items": [{"id": "r-4"}]})])
    assert replay.run(create_once(find, create)) == "r-4"
    assert calls(replay) == ["GET", "POST", "GET"]


def test_after_a_lost_answer_and_no_run_found_it_creates_again() -> None:
    replay = Replay([reply(lost=True), reply(json={"items": []}), reply(json={"id": "r-5"})])
    assert replay.run(create_once(find, create, look_first=False)) == "r-5"
    assert calls(replay) == ["POST", "GET", "POST"]


def test_a_permanent_error_of_the_create_is_not_retried() -> None:
    replay = Replay([reply(json={"items": []}), reply(status=400, json={"error": "bad"})])
    with pytest.raises(ApiError, match="HTTP 400"):
        replay.run(create_once(find, create))
    assert calls(replay) == ["GET", "POST"]


def test_creates_stop_at_attempts_raising_what_the_last_raised() -> None:
    replay = Replay([reply(status=503), reply(json={"items": []}), reply(lost=True)])
    with pytest.raises(TransportError) as raised:
        replay.run(create_once(find, create, look_first=False, attempts=2))
    assert raised.value.answer_lost  # the last create's answer was lost: a run may have started
    assert calls(replay) == ["POST", "GET", "POST"] and replay.left == 0


def test_the_creates_requests_are_marked_as_starting_a_run() -> None:
    replay = Replay(
        [reply(json={"items": []}), reply(lost=True), reply(json={"items": []}), reply(lost=True)]
    )
    with pytest.raises(RemoteTaskError) as raised:
        replay.run(create_once(find, create, attempts=2))
    assert raised.value.answer_lost and raised.value.endpoint == f"POST {API}/runs"


def test_attempts_below_one_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Replay([]).run(create_once(find, create, attempts=0))
