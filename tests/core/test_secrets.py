"""Secrets never show: transport errors never quote header values, and redaction covers a secret's escaped and
base64 forms."""

from __future__ import annotations

import base64

import httpx
import pytest

from airflow_remote_tasks.core.errors import ConfigurationError, TransportError
from airflow_remote_tasks.core.executors import execute
from airflow_remote_tasks.core.operation import HttpRequest, HttpResponse, Operation
from airflow_remote_tasks.core.secrets import redact
from support import assert_nowhere

pytestmark = [pytest.mark.airflow, pytest.mark.usefixtures("airflow_db")]


def one_call(request: HttpRequest) -> Operation[HttpResponse]:
    return (yield request)


def test_transport_errors_never_quote_header_values(flyte):
    secret = "Bearer tok-IN-HEADER-42\n"
    request = HttpRequest("GET", f"{flyte.url}/x", headers={"Authorization": secret})
    with httpx.Client() as client, pytest.raises(ConfigurationError) as raised:
        execute(one_call(request), client)
    assert_nowhere("tok-IN-HEADER-42", str(raised.value))
    assert "headers holds a character HTTP does not allow" in str(raised.value)
    # a transport error that happens to echo a header still loses it
    request = HttpRequest("GET", "http://127.0.0.1:9/x", headers={"X-Key": "tok-IN-HEADER-42"})
    with (
        httpx.Client(transport=httpx.MockTransport(echo_header_error)) as client,
        pytest.raises(TransportError) as raised,
    ):
        execute(one_call(request), client)
    assert "tok-IN-HEADER-42" not in str(raised.value)


def echo_header_error(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError(f"refused {request.headers['x-key']!r}")


def test_redact_covers_escaped_and_base64_forms():
    secret = "abc\ndef-123"
    text = f"{secret!r} {secret.encode()!r} {base64.b64encode(secret.encode()).decode()} {secret.strip()}"
    assert redact(text, [secret]).count("***") >= 3
    assert_nowhere(secret, redact(text, [secret]))
