"""Flyte's data plane: SelectCluster may name an address other than the endpoint (a split data plane on Union).
Whether that data plane takes the control plane's token is not documented, so credentials go there only when
the connection's Data plane URL names it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_remote_tasks.core.errors import AuthenticationError, ConfigurationError
from airflow_remote_tasks.core.models import RunOrigin, RunRef
from airflow_remote_tasks.emulators.server import ASGIApp, Receive, Scope, Send, ServerThread
from airflow_remote_tasks.platforms.flyte.hook import FlyteHook

SECRET = "s3cr3t-VALUE-42"


def recorded(app: ASGIApp, seen: list[tuple[str, dict[str, str]]]) -> ASGIApp:
    """``app``, keeping each request's path and headers."""

    async def keep(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            seen.append((scope["path"], {k.decode(): v.decode() for k, v in scope["headers"]}))
        await app(scope, receive, send)

    return keep


@pytest.fixture
def data_plane(flyte_with_auth) -> Iterator[tuple[str, list[tuple[str, dict[str, str]]]]]:
    """The same emulator served on a second origin, which SelectCluster names; the requests it got."""
    seen: list[tuple[str, dict[str, str]]] = []
    with ServerThread(recorded(flyte_with_auth.emulator.app, seen)) as server:
        flyte_with_auth.emulator.services.data_plane_url = server.url
        yield server.url, seen


def finished_run(hook: FlyteHook) -> RunRef:
    platform = hook.platform
    interface = hook.run(platform.resolve_task("demo.say_hello", "latest"))
    wire = platform.prepare_inputs(interface, {"name": "Ada", "n": 1})
    ref = hook.run(
        platform.submit(
            interface, wire, origin=RunOrigin(dag_id="d", run_id="r", task_id="t"), labels={}, env={}
        )
    )
    for _ in range(100):
        if hook.run(platform.status(ref)).is_terminal:
            return ref
        time.sleep(0.05)
    raise AssertionError("the run did not finish")


def test_a_data_plane_elsewhere_gets_no_credentials_and_the_error_names_the_field(
    flyte_with_auth, data_plane
):
    url, seen = data_plane
    flyte_with_auth.connect(login="airflow", client_secret=SECRET)
    hook = FlyteHook("flyte_default")
    ref = finished_run(hook)
    with pytest.raises(AuthenticationError) as raised:
        hook.run(hook.platform.outputs(ref))
    [(path, headers)] = seen
    assert path == "/flyteidl2.dataproxy.DataProxyService/GetActionData"
    assert "flyte-authorization" not in headers and "authorization" not in headers
    message = str(raised.value)
    assert f"The data plane {url} that flyteidl2.cluster.ClusterService/SelectCluster named" in message
    assert f"set the connection's Data plane URL to {url}" in message
    assert "The credentials were refused" not in message  # none were sent
    assert SECRET not in message


def test_the_data_plane_url_lets_the_credentials_go_there(flyte_with_auth, data_plane):
    url, seen = data_plane
    flyte_with_auth.connect(login="airflow", client_secret=SECRET, data_plane_url=url)
    hook = FlyteHook("flyte_default")
    ref = finished_run(hook)
    assert hook.run(hook.platform.outputs(ref)) == "Hello, Ada!"
    [(path, headers)] = seen
    assert path == "/flyteidl2.dataproxy.DataProxyService/GetActionData"
    assert headers["flyte-authorization"].startswith("Bearer ")
    assert flyte_with_auth.emulator.app.calls["/oauth2/token"] == 1  # the control plane's token, reused


def test_the_data_plane_url_gets_no_credentials_over_plain_http_when_the_api_is_https(flyte):
    flyte.connect(host="https://flyte.example.com", data_plane_url="http://dp-1.example.com")
    with pytest.raises(ConfigurationError, match="plain http:// while the endpoint is https://"):
        FlyteHook("flyte_default").platform  # noqa: B018


def test_without_credentials_a_data_plane_elsewhere_just_answers(flyte):
    seen: list[tuple[str, Any]] = []
    with ServerThread(recorded(flyte.emulator.app, seen)) as server:
        flyte.emulator.services.data_plane_url = server.url
        hook = FlyteHook("flyte_default")
        ref = finished_run(hook)
        assert hook.run(hook.platform.outputs(ref)) == "Hello, Ada!"
    assert [path for path, _ in seen] == ["/flyteidl2.dataproxy.DataProxyService/GetActionData"]
