"""What a hostile tester found: pasted secrets, bad arguments, faults that lose answers, proxies."""

from __future__ import annotations

import base64
import json
import os

import httpx
import pytest

from airflow_helpers import run_dag
from airflow_remote_tasks.core.errors import ConfigurationError, TransportError
from airflow_remote_tasks.core.executors import execute
from airflow_remote_tasks.core.operation import HttpRequest, HttpResponse, Operation
from airflow_remote_tasks.core.secrets import derived_forms, redact
from support import JULEP_KEY

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
    text = text_of(capfd)
    assert says in text
    assert "XCom not found" not in text  # no noise from the run link of a run that never started
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


def test_a_submit_refused_after_retries_says_how_often_and_that_nothing_started(flyte, capfd):
    flyte.emulator.app.faults.update({"fail_method": "CreateRun", "fail_method_next": 100})
    result = run_dag("t_hello_worker")
    assert result.task_state("remote") == "failed"
    text = text_of(capfd)
    assert "Could not start a run of demo.say_hello: " in text
    assert "CreateRun failed after 5 tries: unavailable: injected fault" in text
    assert "The platform refused it, so no run was started." in text
    assert flyte.runs == []


# -- tokens ------------------------------------------------------------------------------------------------


def test_hundreds_of_triggers_starting_cold_fetch_one_token(flyte_with_auth):
    from test_trigger_and_transport import api_key, start_run, wait_together

    from airflow_remote_tasks.core.auth import TOKENS
    from airflow_remote_tasks.platforms.flyte import auth

    flyte = flyte_with_auth
    flyte.connect(host="", password=api_key(flyte.url, "airflow", "s3cr3t-VALUE-42"))
    refs = [start_run("demo.say_hello", {"name": str(i)}, f"cold-{i}")[1] for i in range(300)]
    TOKENS._tokens.clear()  # a triggerer that just started: no token, no discovery yet
    auth._discovered.clear()
    before = dict(flyte.emulator.app.calls)

    results = wait_together(refs, poll_interval=0.5)
    assert all(events[0]["status"]["phase"] == "succeeded" for events in results)
    calls = {k: v - before.get(k, 0) for k, v in flyte.emulator.app.calls.items()}
    assert calls["/oauth2/token"] == 1, calls
    assert calls[f"/{auth.GET_OAUTH2_METADATA}"] == 1, calls
    assert calls[f"/{auth.GET_PUBLIC_CLIENT_CONFIG}"] == 1, calls


def test_discovery_is_asked_again_once_it_expires(flyte_with_auth, monkeypatch):
    from test_trigger_and_transport import api_key

    from airflow_remote_tasks.core.auth import TOKENS
    from airflow_remote_tasks.platforms.flyte import auth
    from airflow_remote_tasks.platforms.flyte.hook import FlyteHook

    flyte = flyte_with_auth
    flyte.connect(host="", password=api_key(flyte.url, "airflow", "s3cr3t-VALUE-42"))
    auth._discovered.clear()
    assert FlyteHook("flyte_default").test_connection()[0]
    assert FlyteHook("flyte_default").test_connection()[0]
    assert flyte.emulator.app.calls[f"/{auth.GET_OAUTH2_METADATA}"] == 1
    monkeypatch.setattr(auth, "DISCOVERY_TTL", 0.0)
    auth._discovered.clear()
    TOKENS._tokens.clear()
    assert FlyteHook("flyte_default").test_connection()[0]
    assert FlyteHook("flyte_default").test_connection()[0]
    assert flyte.emulator.app.calls[f"/{auth.GET_OAUTH2_METADATA}"] == 3


# -- faults ------------------------------------------------------------------------------------------------


def test_a_refused_batch_read_falls_back_to_single_reads(flyte):
    from test_trigger_and_transport import start_run, wait_together

    refs = [start_run("demo.say_hello", {"name": str(i)}, f"unbatched-{i}")[1] for i in range(8)]
    flyte.emulator.app.faults.update(
        {"fail_method": "ListRuns", "fail_method_next": 1000, "error_status": 400}
    )
    before = dict(flyte.emulator.app.calls)
    results = wait_together(refs, poll_interval=0.3)
    assert all(events == [events[0]] and events[0]["status"]["phase"] == "succeeded" for events in results)
    calls = {k: v - before.get(k, 0) for k, v in flyte.emulator.app.calls.items()}
    assert calls["/flyteidl2.workflow.RunService/ListRuns"] == 1, calls  # refused once, then not asked again
    assert calls["/flyteidl2.workflow.RunService/GetRunDetails"] >= len(refs), calls


def test_resume_is_retried_after_a_refused_put(julep):
    julep.emulator.app.faults.update({"fail_method": "PUT /api/executions/", "fail_method_next": 1})
    result = run_dag("example_julep", conf={"text": "one two"})
    assert result.state == "success", {k: str(v.state) for k, v in result.tis.items()}
    assert julep.emulator.app.faults.fail_method_next == 0  # the 503 was served
    _, review = julep.executions
    assert review["transitions"].count("resume") == 1


# Every call that starts or changes a run, carried out by the server with its answer lost on the way back:
# the provider attaches to what the call did, and never does it twice.


@pytest.mark.parametrize("mode", ["deferred", "worker"])
def test_lost_answer_to_flyte_create_run(flyte, mode):
    flyte.emulator.app.faults.update({"lose_answer": "CreateRun", "lose_answer_next": 1})
    result = run_dag(f"t_hello_{mode}")
    assert result.state == "success"
    assert flyte.emulator.app.faults.lose_answer_next == 0
    assert len(flyte.runs) == 1


@pytest.mark.parametrize("mode", ["deferred", "worker"])
def test_lost_answer_to_flyte_abort_run(flyte, mode, capfd):
    flyte.emulator.app.faults.update({"lose_answer": "AbortRun", "lose_answer_next": 1})
    result = run_dag(f"t_timeout_{mode}")
    assert result.task_state("remote") == "failed"
    assert "it was aborted" in text_of(capfd)
    assert flyte.emulator.app.faults.lose_answer_next == 0
    [run] = flyte.runs
    assert run["phase"] == "ACTION_PHASE_ABORTED"


@pytest.mark.parametrize("mode", ["deferred", "worker"])
def test_lost_answer_to_julep_create_execution(julep, mode):
    julep.emulator.app.faults.update({"lose_answer": "POST /api/tasks/", "lose_answer_next": 1})
    result = run_dag(f"j_hello_{mode}")
    assert result.state == "success"
    assert julep.emulator.app.faults.lose_answer_next == 0
    assert len(julep.executions) == 1


def test_lost_answer_to_julep_task_definition(julep):
    julep.emulator.app.faults.update({"lose_answer": "POST /api/agents/", "lose_answer_next": 1})
    result = run_dag("j_hello_worker")
    assert result.state == "success"
    assert julep.emulator.app.faults.lose_answer_next == 0
    assert len(julep.emulator.state.tasks) == 1 and len(julep.executions) == 1


@pytest.mark.parametrize("mode", ["deferred", "worker"])
def test_lost_answer_to_julep_cancel(julep, mode, capfd):
    julep.emulator.app.faults.update({"lose_answer": "PUT /api/executions/", "lose_answer_next": 1})
    result = run_dag(f"j_timeout_{mode}")
    assert result.task_state("remote") == "failed"
    assert "it was aborted" in text_of(capfd)
    assert julep.emulator.app.faults.lose_answer_next == 0
    [execution] = julep.executions
    assert execution["transitions"].count("cancelled") <= 1


def test_lost_answer_to_julep_resume(julep):
    julep.emulator.app.faults.update({"lose_answer": "PUT /api/executions/", "lose_answer_next": 1})
    result = run_dag("example_julep", conf={"text": "one two"})
    assert result.state == "success", {k: str(v.state) for k, v in result.tis.items()}
    assert julep.emulator.app.faults.lose_answer_next == 0
    _, review = julep.executions
    assert review["transitions"].count("resume") == 1


# -- small things a newcomer noticed ---------------------------------------------------------------------


def test_a_bad_julep_definition_is_named_before_anything_is_sent(julep, capfd):
    from airflow_remote_tasks.platforms.julep.hook import JulepHook

    hook = JulepHook("julep_default")
    bad = {"name": "x", "main": "not a list", "tools": [{"name": "t"}]}
    with pytest.raises(ConfigurationError) as raised:
        hook.run(hook.platform.resolve_task(bad, "latest"))
    text = str(raised.value)
    assert "nothing was sent" in text and "'main' must be a non-empty list of steps" in text
    assert "tools[0] needs a 'name' and a 'type'" in text
    with pytest.raises(ConfigurationError, match=r"main\[0\] must hold exactly one of"):
        hook.run(hook.platform.resolve_task({"name": "x", "main": [{"evaluate": {}, "log": "a"}]}, "latest"))
    assert julep.emulator.state.tasks == {}
    assert not [e for e in julep.emulator.exchanges if e["method"] != "GET"]


def test_the_julep_emulator_refuses_a_malformed_task_like_the_server(julep):
    from airflow_remote_tasks.emulators.julep import DEMO_AGENT_ID

    headers = {"Authorization": f"Bearer {JULEP_KEY}"}
    for main, loc in (("not a list", ["body", "main"]), ([{"nope": 1}], ["body", "main", "0"])):
        answer = httpx.post(
            f"{julep.url}/agents/{DEMO_AGENT_ID}/tasks", json={"name": "x", "main": main}, headers=headers
        )
        assert answer.status_code == 422
        assert answer.json()["error"]["details"][0]["loc"] == loc
    assert julep.emulator.state.tasks == {}


def test_make_demo_cleans_up_and_points_onwards(tmp_path):
    import subprocess
    import sys

    from support import ROOT

    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env["TMPDIR"] = str(tmp_path)
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "demo.py")],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    output = done.stdout + done.stderr
    assert "Outputs that reached the downstream task" in output
    assert "Next: `make airflow`" in output
    assert "Warning" not in output
    assert list(tmp_path.iterdir()) == []  # the throw-away Airflow home is gone


def test_output_path_takes_any_platforms_value_as_json(flyte, tmp_path):
    target = tmp_path / "out" / "hello.json"
    result = run_dag("t_output_path", conf={"out": f"file://{target}"})
    assert result.state == "success"
    assert json.loads(target.read_text()) == "Hello, Storage! Hello, Storage!"
    summary = result.xcom("collect")
    assert summary["path"] == f"file://{target}" and summary["bytes"] == target.stat().st_size
