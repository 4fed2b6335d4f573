"""Arguments are checked when the DAG is parsed: bad ones fail naming the argument, good ones are kept as
seconds."""

from __future__ import annotations

import pytest

from airflow_remote_tasks.core.errors import ConfigurationError

pytestmark = [pytest.mark.airflow, pytest.mark.usefixtures("airflow_db")]


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


def test_inputs_that_are_not_a_mapping_fail_when_the_dag_is_parsed():
    from airflow_remote_tasks import RemoteTaskOperator

    with pytest.raises(ConfigurationError, match=r"inputs must be a mapping of names to values.*got list"):
        RemoteTaskOperator(task_id="t", conn_id="julep_default", task="hello", inputs=[{"name": "Ada"}])
