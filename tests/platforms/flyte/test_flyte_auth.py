"""Flyte's credentials against the emulator: an API key traded for tokens sent in the header the server names,
an expired token refreshed once, and refused credentials failing fast with one call."""

from __future__ import annotations

import base64

import httpx
import pytest

from airflow_remote_tasks.core.errors import AuthenticationError
from airflow_remote_tasks.platforms.flyte.hook import FlyteHook

pytestmark = pytest.mark.usefixtures("airflow_db")


def api_key(endpoint: str, client_id: str, secret: str, org: str = "None") -> str:
    return base64.b64encode(f"{endpoint}:{client_id}:{secret}:{org}".encode()).decode()


def test_api_key_auth_with_discovered_header(flyte_with_auth):
    flyte = flyte_with_auth
    flyte.connect(host="", password=api_key(flyte.url, "airflow", "s3cr3t-VALUE-42"))
    hook = FlyteHook("flyte_default")
    ok, message = hook.test_connection()
    assert ok, message
    assert flyte.emulator.app.calls["/oauth2/token"] == 1
    # The emulator only reads "flyte-authorization", as it advertised: forcing the usual name is refused,
    # so the success above came from using the discovered header.
    flyte.connect(
        host="", password=api_key(flyte.url, "airflow", "s3cr3t-VALUE-42"), auth_header="authorization"
    )
    ok, message = FlyteHook("flyte_default").test_connection()
    assert not ok and "credentials were refused" in message


def test_expired_token_is_refreshed_once(flyte_with_auth):
    flyte = flyte_with_auth
    flyte.connect(login="airflow", client_secret="s3cr3t-VALUE-42")
    hook = FlyteHook("flyte_default")
    assert hook.test_connection()[0]
    with httpx.Client() as client:
        client.post(f"{flyte.url}/_emulator/revoke-tokens")
    assert hook.test_connection()[0]
    assert flyte.emulator.app.calls["/oauth2/token"] == 2


def test_bad_key_fails_fast_without_a_retry_storm(flyte_with_auth):
    flyte = flyte_with_auth
    flyte.connect(host="", password=api_key(flyte.url, "airflow", "wrong"))
    hook = FlyteHook("flyte_default")
    ok, message = hook.test_connection()
    assert not ok
    assert "refused client 'airflow'" in message and "Check the connection's API key" in message
    assert flyte.emulator.app.calls["/oauth2/token"] == 1
    assert "wrong" not in message


def test_bad_static_token_is_refused_with_one_call(flyte_with_auth):
    flyte = flyte_with_auth
    flyte.connect(access_token="not-a-token")
    hook = FlyteHook("flyte_default")
    with pytest.raises(AuthenticationError, match="credentials were refused"):
        hook.run(hook.platform.check_connection())
    assert flyte.emulator.app.calls["/flyteidl2.task.TaskService/ListTasks"] == 1
