"""A task's inputs filled in when it runs (from an upstream task or a template), and its output written to
output_path."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_helpers import run_dag

pytestmark = [pytest.mark.airflow, pytest.mark.usefixtures("airflow_db")]


def review_dag(dag_id: str) -> Any:
    import sys

    from airflow_helpers import DAGS

    sys.path.insert(0, str(DAGS))
    import review_test_dags

    return getattr(review_test_dags, dag_id)


@pytest.mark.parametrize("how", ["xcomarg", "template"])
def test_inputs_from_an_upstream_task_reach_the_run(how, flyte):
    from airflow_helpers import DagResult

    result = DagResult(review_dag(f"review_inputs_{how}").test())
    assert result.task_state("remote") == "success"
    assert len(flyte.runs_of("demo.say_hello")) == 1
    assert result.xcom("remote") == "Hello, Grace! Hello, Grace!"


def test_a_template_that_renders_to_a_string_fails_naming_inputs(flyte, capfd):
    from airflow_helpers import DagResult

    result = DagResult(review_dag("review_inputs_text").test())
    assert result.task_state("remote") == "failed"
    out = capfd.readouterr()
    assert "inputs must be a mapping of names to values, but it rendered to a str" in out.out + out.err
    assert flyte.runs == []


def test_output_path_takes_any_platforms_value_as_json(flyte, tmp_path):
    target = tmp_path / "out" / "hello.json"
    result = run_dag("t_output_path", conf={"out": f"file://{target}"})
    assert result.state == "success"
    assert json.loads(target.read_text()) == "Hello, Storage! Hello, Storage!"
    summary = result.xcom("collect")
    assert summary["path"] == f"file://{target}" and summary["bytes"] == target.stat().st_size
