"""Transport edges: a redirect is named without its query, and a failed download's error body is read only as
far as it is quoted."""

from __future__ import annotations

import asyncio
import io
import time
from typing import Any

import httpx
import pytest
from loopback_servers import run

from airflow_remote_tasks.core.errors import ConfigurationError
from airflow_remote_tasks.core.executors import execute
from airflow_remote_tasks.core.operation import HttpRequest, HttpResponse, Operation
from airflow_remote_tasks.core.sending import DOWNLOAD_ERROR_BYTES

pytestmark = [pytest.mark.airflow, pytest.mark.usefixtures("airflow_db")]


def one_call(request: HttpRequest) -> Operation[HttpResponse]:
    return (yield request)


def test_a_redirect_names_where_it_points_without_its_query():
    def moved(request: httpx.Request) -> httpx.Response:
        return httpx.Response(301, headers={"Location": "https://api.example.com/v1/x?sig=SIGNED-123"})

    request = HttpRequest("GET", "http://api.example.com/v1/x")
    with (
        httpx.Client(transport=httpx.MockTransport(moved)) as client,
        pytest.raises(ConfigurationError) as raised,
    ):
        execute(one_call(request), client)
    text = str(raised.value)
    assert "redirect (HTTP 301) to https://api.example.com/v1/x." in text and "https://" in text
    assert "SIGNED-123" not in text


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
