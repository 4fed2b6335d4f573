"""A platform is its declaration: typed connection fields read through it, and capabilities its class answers."""

from __future__ import annotations

import importlib
import inspect
import re
from types import SimpleNamespace

import pytest

from airflow_remote_tasks.core.declaration import SHARED_FIELDS, Capability
from airflow_remote_tasks.core.errors import ConfigurationError
from airflow_remote_tasks.core.platform import CAPABILITY_MEMBERS, Platform
from airflow_remote_tasks.core.transport import DEFAULT_READ_TIMEOUT
from airflow_remote_tasks.hooks.connection import ConnectionView
from airflow_remote_tasks.platforms.flyte import PLATFORM as FLYTE
from airflow_remote_tasks.platforms.julep import PLATFORM as JULEP
from airflow_remote_tasks.registry import DECLARATIONS, platform_class


def connection(conn_type: str = "remote_tasks_flyte", **extra: object) -> SimpleNamespace:
    return SimpleNamespace(
        conn_id="c", conn_type=conn_type, host="", port=None, login="", password="", extra_dejson=extra
    )


def test_a_field_no_declaration_names_is_refused():
    view = ConnectionView(connection(), FLYTE)
    with pytest.raises(LookupError, match="declares no field 'agent_id'"):
        view.field("agent_id")  # Julep's field, not Flyte's


def test_an_empty_field_reads_its_declared_default():
    view = ConnectionView(connection(project="", domain=None), FLYTE)
    assert (view.field("project"), view.field("domain")) == ("flytesnacks", "development")
    assert ConnectionView(connection(project="ml"), FLYTE).field("project") == "ml"
    assert ConnectionView(connection("remote_tasks_julep"), JULEP).field("auth_header") == "Authorization"


@pytest.mark.parametrize(
    ("host", "port", "default", "url"),
    [
        ("api.example.com/", None, "", "https://api.example.com"),
        (" http://127.0.0.1/api/ ", 8080, "", "http://127.0.0.1:8080/api"),
        ("", 8080, "https://default.example.com/v1/", "https://default.example.com/v1"),
        ("", None, "", ""),
    ],
)
def test_the_base_url_is_host_and_port_with_a_scheme_and_no_trailing_slash(host, port, default, url):
    conn = connection()
    conn.host, conn.port = host, port
    assert ConnectionView(conn, FLYTE).base_url(default) == url


def test_the_key_is_the_password_or_the_declared_api_key_extra():
    conn = connection("remote_tasks_julep", api_key=" from-extra ")
    assert ConnectionView(conn, JULEP).required_key() == "from-extra"
    conn.password = "from-password\n"
    assert ConnectionView(conn, JULEP).required_key() == "from-password"
    empty = ConnectionView(connection("remote_tasks_julep"), JULEP)
    with pytest.raises(
        ConfigurationError,
        match=r"^Julep connection 'c' has no API key: put it in the connection's API key field\.$",
    ):
        empty.required_key()
    assert empty.key() == ""


def test_a_flag_reads_words_and_falls_back_to_its_declared_default():
    assert ConnectionView(connection(insecure="yes"), FLYTE).flag("insecure") is True
    assert ConnectionView(connection(insecure="no"), FLYTE).flag("insecure") is False
    assert ConnectionView(connection(), FLYTE).flag("verify_tls") is True  # declared True


def test_the_read_timeout_default_is_the_transports():
    [field] = [f for f in SHARED_FIELDS if f.name == "read_timeout"]
    assert field.default == DEFAULT_READ_TIMEOUT
    assert ConnectionView(connection(), FLYTE).read_timeout() == DEFAULT_READ_TIMEOUT


# A read of a connection field in a platform's connection code: conn.field("x"), conn.flag("x"), conn.text("x").
READ = re.compile(r"\bconn\.(?:field|flag|text)\(\"([a-z_0-9]+)\"")


@pytest.mark.parametrize("declaration", DECLARATIONS, ids=[d.name for d in DECLARATIONS])
def test_every_field_a_hook_reads_is_declared(declaration):
    source = inspect.getsource(importlib.import_module(declaration.hook_module))
    read = set(READ.findall(source))
    assert read, "the pattern finds the hook's reads"
    assert read <= set(declaration.connection_fields), read - set(declaration.connection_fields)


def overrides(cls: type[Platform], member: str) -> bool:
    """Whether ``cls`` (or a class between it and Platform) writes ``member`` itself."""
    below = cls.__mro__[: cls.__mro__.index(Platform)]
    return any(member in vars(c) for c in below)


@pytest.mark.parametrize("declaration", DECLARATIONS, ids=[d.name for d in DECLARATIONS])
def test_a_capability_is_declared_exactly_when_the_platform_answers_it(declaration):
    cls = platform_class(declaration)
    assert issubclass(cls, Platform), f"{cls.__name__} is no Platform"
    assert cls.declaration is declaration
    disagree = {
        capability.name: {m: overrides(cls, m) for m in members}
        for capability, members in CAPABILITY_MEMBERS.items()
        if any(overrides(cls, m) != (capability in declaration.capabilities) for m in members)
    }
    assert not disagree, (
        f"{declaration.name} declares {sorted(c.name for c in declaration.capabilities)}, but its class writes "
        f"these members otherwise (True: written): {disagree}"
    )


class Bare(Platform):
    """A platform with no capabilities: every answer is the base class's."""

    declaration = JULEP

    def check_connection(self):  # pragma: no cover - not called
        raise NotImplementedError

    resolve_task = prepare_inputs = submit = find_run = status = outputs = check_connection


@pytest.mark.parametrize(
    ("call", "says"),
    [
        (
            lambda p: p.resume(None, {}),
            "Julep cannot resume a run with input; only platforms whose runs wait",
        ),
        (
            lambda p: p.check_selector({}),
            "Julep cannot wait on a set of runs chosen by a selector: Julep lists executions per task, not "
            "across tasks by a filter; wait on one run with RemoteRunSensor instead.",
        ),
        (
            lambda p: p.download(None, "result", None),
            "Julep cannot download a run's outputs as a stream; its runs",
        ),
    ],
)
def test_a_missing_capability_is_refused_naming_the_platform_and_what_to_do(call, says):
    with pytest.raises(ConfigurationError) as raised:
        call(Bare())
    assert str(raised.value).startswith(says)


@pytest.mark.parametrize("declaration", DECLARATIONS, ids=[d.name for d in DECLARATIONS])
def test_environment_variables_are_refused_by_platforms_whose_runs_take_none(declaration):
    cls = platform_class(declaration)
    platform = cls.__new__(cls)  # check_env reads the declaration only: no connection needed
    platform.check_env({})  # none given: nothing to refuse
    if Capability.ENV in declaration.capabilities:
        platform.check_env({"A": "1"})
        return
    with pytest.raises(ConfigurationError) as raised:
        platform.check_env({"A": "1"})
    assert str(raised.value) == (
        f"{declaration.label} cannot take environment variables for a run; pass the values as inputs instead."
    )


def test_missing_capabilities_that_harm_nothing_answer_nothing():
    from airflow_remote_tasks.core.executors import execute

    platform = Bare()
    assert execute(platform.abort(None, "why"), None) is False  # cannot stop: the run goes on
    assert execute(platform.statuses([]), None) == {}
    assert execute(platform.logs(None, None, 10), None) == []
    assert execute(platform.progress(None, 3), None).seen == 3
    assert platform.poll_delay() == 0.0 and platform.status_batch_limit == 0
    assert platform.name == "julep"


def test_every_capability_has_its_members():
    assert set(CAPABILITY_MEMBERS) == set(Capability)
