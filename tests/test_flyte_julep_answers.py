"""Flyte and Julep answers go through the core's rule for success bodies: JSON is the API's answer whatever its
label, and anything else (a login or proxy page) is an UnexpectedAnswerError that is not retried."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_remote_tasks.core.errors import PermanentError, UnexpectedAnswerError
from airflow_remote_tasks.core.operation import HttpResponse, StreamLimits
from airflow_remote_tasks.emulators.server import ASGIApp, Receive, Scope, Send, ServerThread
from airflow_remote_tasks.platforms.flyte import connect
from airflow_remote_tasks.platforms.flyte.hook import FlyteHook
from airflow_remote_tasks.platforms.julep.hook import JulepHook


def relabelled(app: ASGIApp, content_type: bytes) -> ASGIApp:
    """``app`` behind a proxy that gives every answer another content type (the body is left alone)."""

    async def proxy(scope: Scope, receive: Receive, send: Send) -> None:
        async def relabel(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message["headers"] if k.lower() != b"content-type"]
                message = {**message, "headers": [*headers, (b"content-type", content_type)]}
            await send(message)

        await app(scope, receive, relabel)

    return proxy


@pytest.fixture
def portal() -> Iterator[tuple[str, list[str]]]:
    """A sign-in page that answers every request with 200 and HTML, and the paths it was asked for."""
    asked: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        asked.append(scope["path"])
        body = b"<!doctype html><title>Sign in</title><form>Corporate sign-in</form>"
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/html")]}
        )
        await send({"type": "http.response.body", "body": body})

    with ServerThread(app) as server:
        yield server.url, asked


def test_flyte_takes_json_labelled_otherwise(flyte):
    with ServerThread(relabelled(flyte.emulator.app, b"text/plain")) as proxy:
        flyte.connect(host=proxy.url)
        ok, message = FlyteHook("flyte_default").test_connection()
    assert ok, message
    assert message.startswith(f"Connected to Flyte at {proxy.url}: project flytesnacks/development answers")


def test_julep_takes_json_labelled_otherwise(julep):
    with ServerThread(relabelled(julep.emulator.app, b"text/plain; charset=utf-8")) as proxy:
        julep.connect(host=proxy.url + "/api")
        ok, message = JulepHook("julep_default").test_connection()
    assert ok, message
    assert (
        message
        == f"Connected to Julep at {proxy.url}/api: agent 'Airflow demo agent' (5e1f0000-0000-4000-8000-000000000001) answers."
    )


@pytest.mark.parametrize(
    ("hook", "host", "conn_id", "conn_type"),
    [
        (FlyteHook, "", "flyte_default", "remote_tasks_flyte"),
        (JulepHook, "/api", "julep_default", "remote_tasks_julep"),
    ],
)
def test_a_sign_in_page_is_named_once_and_not_retried(portal, hook, host, conn_id, conn_type, monkeypatch):
    from conftest import set_connection

    url, asked = portal
    set_connection(conn_id, conn_type, url + host, "" if conn_type.endswith("flyte") else "k", {})
    platform_hook = hook(conn_id)
    with pytest.raises(UnexpectedAnswerError) as raised:
        platform_hook.run(platform_hook.platform.check_connection())
    assert isinstance(raised.value, PermanentError)  # Airflow does not retry it
    assert "answered HTTP 200 with text/html, which is not the API's JSON" in str(raised.value)
    assert "Corporate sign-in" in str(raised.value)
    assert len(asked) == 1
    monkeypatch.delenv(f"AIRFLOW_CONN_{conn_id.upper()}")


def test_a_flyte_stream_message_that_is_not_json_is_an_unexpected_answer():
    payload = b"<html>oops</html>"
    body = struct.pack(">BI", 0, len(payload)) + payload
    operation = connect.server_stream("http://flyte.test", "x.Y/Z", {}, StreamLimits())
    next(operation)
    answer = HttpResponse(
        200, {"content-type": "application/connect+json"}, body, url="http://flyte.test/x.Y/Z"
    )
    with pytest.raises(UnexpectedAnswerError, match=r"http://flyte.test/x.Y/Z answered HTTP 200"):
        operation.send(answer)
