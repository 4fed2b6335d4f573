"""What a hostile tester found: pasted secrets, bad arguments, faults that lose answers, proxies."""

from __future__ import annotations

import base64

import httpx
import pytest

from airflow_helpers import run_dag
from airflow_remote_tasks.core.errors import ConfigurationError, TransportError
from airflow_remote_tasks.core.executors import execute
from airflow_remote_tasks.core.operation import HttpRequest, HttpResponse, Operation
from airflow_remote_tasks.core.secrets import derived_forms, redact
from conftest import JULEP_KEY

pytestmark = [pytest.mark.airflow, pytest.mark.usefixtures("airflow_db")]


def text_of(capfd: pytest.CaptureFixture[str]) -> str:
    out = capfd.readouterr()
    return out.out + out.err


def assert_nowhere(secret: str, *texts: str) -> None:
    for form in derived_forms(secret):
        for text in texts:
            assert form not in text, f"a form of a secret ({len(form)} chars) leaked"


# -- secrets ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["deferred", "worker"])
def test_julep_key_pasted_with_a_newline_works_and_never_shows(julep, mode, capfd):
    julep.connect(password=JULEP_KEY + "\n")
    result = run_dag(f"j_hello_{mode}")
    assert result.state == "success"
    assert result.xcom("collect") == {"text": "Hello, Ada! Hello, Ada!"}
    assert_nowhere(JULEP_KEY, text_of(capfd), repr(result.all_xcom_values()))


def test_flyte_token_pasted_with_a_newline_works(flyte_with_auth, capfd):
    import time

    flyte = flyte_with_auth
    flyte.emulator.tokens["tok-PASTED-0123456789"] = time.time() + 3600  # minted elsewhere
    flyte.connect(access_token="tok-PASTED-0123456789\r\n", auth_header="flyte-authorization")
    result = run_dag("t_hello_worker")
    assert result.state == "success"
    assert_nowhere("tok-PASTED-0123456789", text_of(capfd))


def test_a_key_broken_inside_is_a_configuration_error_naming_the_field(julep, capfd):
    broken = "jk-FIRST-half\nsecond-HALF"
    julep.connect(password=broken)
    result = run_dag("j_hello_worker")
    assert result.task_state("remote") == "failed"
    text = text_of(capfd)
    assert "The API key of connection 'julep_default' holds a character that cannot be sent" in text
    assert "Could not reach" not in text
    assert_nowhere("jk-FIRST-half", text)
    assert_nowhere("second-HALF", text)
    assert julep.executions == []


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


# -- arguments and errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argument", "value", "says"),
    [
        ("timeout", 0, "timeout must be greater than 0 seconds"),
        ("timeout", -1, "timeout must be greater than 0 seconds"),
        ("timeout", "1h", "timeout must be a number of seconds or a datetime.timedelta"),
        ("poll_interval", 0, "poll_interval must be greater than 0"),
        ("poll_interval", float("nan"), "poll_interval must be greater than 0"),
        ("max_output_bytes", -1, "max_output_bytes must be a whole number of at least 0"),
        ("max_output_bytes", "big", "max_output_bytes must be a whole number"),
        ("log_lines", 1.5, "log_lines must be a whole number"),
        ("transient_error_budget", -5, "transient_error_budget must be 0 or more seconds"),
        ("transient_error_budget", True, "transient_error_budget must be a number of seconds"),
        ("fetch_logs", "sometimes", "fetch_logs must be one of 'on_failure', 'always', 'never'"),
    ],
)
def test_bad_arguments_fail_when_the_dag_is_parsed(argument, value, says):
    from airflow_remote_tasks import RemoteTaskOperator

    with pytest.raises(ConfigurationError, match=says):
        RemoteTaskOperator(task_id="t", conn_id="c", task="demo.say_hello", **{argument: value})


def test_good_arguments_are_kept_as_seconds():
    from datetime import timedelta

    from airflow_remote_tasks import RemoteRunSensor, RemoteTaskOperator

    operator = RemoteTaskOperator(task_id="t", conn_id="c", task="x", timeout=timedelta(minutes=2))
    assert operator.timeout == 120.0
    assert RemoteTaskOperator(task_id="u", conn_id="c", task="x", transient_error_budget=0)
    with pytest.raises(ConfigurationError, match="poke_interval must be greater than 0"):
        RemoteRunSensor(task_id="s", conn_id="c", run_id="r", poke_interval=0)
    with pytest.raises(ConfigurationError, match="transient_error_budget must be"):
        RemoteRunSensor(task_id="s", conn_id="c", run_id="r", transient_error_budget="10m")


@pytest.mark.parametrize(
    ("dag_id", "says"),
    [
        ("t_retries_bad_inputs", "do not match its interface; nothing was submitted"),
        ("t_retries_unknown_conn", "Connection 'nope' is not defined"),
        ("t_retries_unknown_task", "demo.nope"),
    ],
)
def test_errors_that_cannot_fix_themselves_are_not_retried(flyte, dag_id, says, capfd):
    result = run_dag(dag_id)
    assert result.task_state("remote") == "failed"
    assert result.try_number("remote") == 1, "retries=2, but asking again cannot help"
    assert says in text_of(capfd)
    assert flyte.runs == []


def test_a_huge_remote_error_is_clipped_in_the_log(flyte, capfd):
    result = run_dag("t_huge_error", conf={"message": "E" * 300_000})
    assert result.task_state("remote") == "failed"
    text = text_of(capfd)
    assert "bytes more)" in text
    assert "E" * 300_000 not in text
    assert max(len(line) for line in text.splitlines()) < 20_000


@pytest.mark.parametrize("mode", ["deferred", "worker"])
def test_transient_error_budget_is_honoured_and_explained(flyte, mode, capfd):
    import threading
    import time

    def break_reads_once_started() -> None:
        deadline = time.monotonic() + 30
        while not flyte.runs and time.monotonic() < deadline:
            time.sleep(0.05)
        flyte.emulator.app.faults.update({"fail_method": "GetRunDetails", "fail_method_next": 10_000})

    threading.Thread(target=break_reads_once_started, daemon=True).start()
    result = run_dag(f"t_budget_{mode}")
    assert result.task_state("remote") == "failed"
    text = text_of(capfd)
    [run] = flyte.runs
    assert "used up transient_error_budget=2s" in text
    assert f"/runs/{run['name']}" in text.split("used up transient_error_budget=2s", 1)[1]
    assert "The run was not stopped" in text and "waits on the same run again" in text
    reported = [
        float(t.split("s, which used up")[0]) for t in text.split("for ")[1:] if "s, which used up" in t
    ]
    assert reported and max(reported) < 2 + 5, "the budget is honoured within about one poll"
    assert run["phase"] != "ACTION_PHASE_ABORTED"  # left running: a retry reattaches


def test_poke_mode_sensor_has_a_transient_error_budget(flyte, capfd):
    from test_secrets_and_sensor import started_run

    run_id = started_run("demo.sleep", {"seconds": 3.0}, "poked")
    flyte.emulator.app.faults.update({"fail_method": "GetRunDetails", "fail_method_next": 6})
    result = run_dag("t_sensor_tolerant", conf={"run": run_id})
    assert result.task_state("sensor_poke") == "success"  # six errors in a row did not fail it
    assert "still waiting" in text_of(capfd)
    flyte.emulator.app.faults.update({"fail_method": "GetRunDetails", "fail_method_next": 10_000})
    result = run_dag("t_sensor_budget", conf={"run": run_id})
    assert result.task_state("sensor_poke") == "failed"
    assert "used up transient_error_budget=2s" in text_of(capfd)
