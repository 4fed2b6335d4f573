"""Flyte's client secret goes only to a token endpoint on the API's own origin, or to the one the connection's
Token endpoint names: the server's auth metadata is read unauthenticated, so it cannot send the secret anywhere."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from test_flyte_data_plane import recorded

from airflow_remote_tasks.core.errors import ConfigurationError
from airflow_remote_tasks.emulators.server import ServerThread
from airflow_remote_tasks.platforms.flyte.hook import FlyteHook

SECRET = "s3cr3t-VALUE-42"
CHECK = "flyteidl2.task.TaskService/ListTasks"


@pytest.fixture
def elsewhere(flyte_with_auth) -> Iterator[tuple[str, list[tuple[str, dict[str, str]]]]]:
    """The same emulator (so it also issues tokens) on a second loopback origin; the requests it got."""
    seen: list[tuple[str, dict[str, str]]] = []
    with ServerThread(recorded(flyte_with_auth.emulator.app, seen)) as server:
        yield server.url, seen


def list_tasks(hook: FlyteHook) -> object:
    return hook.run(hook.platform.check_connection())


def test_a_token_endpoint_on_another_origin_gets_no_secret_and_the_error_names_the_field(
    flyte_with_auth, elsewhere
):
    url, seen = elsewhere
    flyte_with_auth.emulator.services.token_endpoint = f"{url}/oauth2/token?x=1"
    flyte_with_auth.connect(login="airflow", client_secret=SECRET)
    with pytest.raises(ConfigurationError) as raised:
        list_tasks(FlyteHook("flyte_default"))
    assert seen == []  # nothing reached the other origin
    message = str(raised.value)
    assert f"advertises its OAuth2 token endpoint on another origin, {url}, so the client secret" in message
    assert f"set the connection's Token endpoint to {url}/oauth2/token." in message
    assert SECRET not in message


def test_the_token_endpoint_field_lets_the_secret_go_to_an_identity_provider_elsewhere(
    flyte_with_auth, elsewhere
):
    url, seen = elsewhere
    flyte_with_auth.emulator.services.token_endpoint = f"{url}/oauth2/token"
    flyte_with_auth.connect(login="airflow", client_secret=SECRET, token_endpoint=f"{url}/oauth2/token")
    assert "Connected to Flyte" in str(list_tasks(FlyteHook("flyte_default")))
    [(path, headers)] = seen
    assert path == "/oauth2/token" and headers["authorization"].startswith("Basic ")
    assert flyte_with_auth.emulator.app.calls[f"/{CHECK}"] == 1  # the API call went to the endpoint


def test_the_token_endpoint_field_overrides_what_the_server_advertises(flyte_with_auth, elsewhere):
    url, seen = elsewhere
    flyte_with_auth.emulator.services.token_endpoint = f"{url}/oauth2/token"  # the server says: there
    flyte_with_auth.connect(
        login="airflow", client_secret=SECRET, token_endpoint=f"{flyte_with_auth.url}/oauth2/token"
    )
    assert "Connected to Flyte" in str(list_tasks(FlyteHook("flyte_default")))
    assert seen == []
    assert flyte_with_auth.emulator.app.calls["/oauth2/token"] == 1


@pytest.mark.parametrize("advertised", ["/oauth2/token", "../oauth2/token"])
def test_a_relative_token_endpoint_is_resolved_against_the_discovery_url(flyte_with_auth, advertised):
    flyte_with_auth.emulator.services.token_endpoint = advertised
    flyte_with_auth.connect(login="airflow", client_secret=SECRET)
    assert "Connected to Flyte" in str(list_tasks(FlyteHook("flyte_default")))
    assert flyte_with_auth.emulator.app.calls["/oauth2/token"] == 1


def test_a_token_endpoint_that_is_no_http_url_is_refused_naming_the_field(flyte_with_auth):
    flyte_with_auth.emulator.services.token_endpoint = "ftp://idp.example.com/token"
    flyte_with_auth.connect(login="airflow", client_secret=SECRET)
    with pytest.raises(
        ConfigurationError, match=r"no http\(s\) URL .*'ftp://idp\.example\.com/token'.*Token endpoint"
    ):
        list_tasks(FlyteHook("flyte_default"))


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("idp.example.com/token", r"no http\(s\) URL"),
        ("http://idp.example.com/token", "Token endpoint http://idp.example.com/token, plain http://"),
    ],
)
def test_the_token_endpoint_field_must_be_an_https_url_for_an_https_endpoint(flyte, value, error):
    flyte.connect(
        host="https://flyte.example.com", login="airflow", client_secret=SECRET, token_endpoint=value
    )
    with pytest.raises(ConfigurationError, match=error):
        FlyteHook("flyte_default").platform  # noqa: B018
