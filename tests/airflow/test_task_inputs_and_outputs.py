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


def test_the_inputs_are_parsed_once_and_submitted_as_parsed(flyte, monkeypatch):
    from airflow_remote_tasks.platforms.flyte.hook import FlyteHook

    platform_class = type(FlyteHook("flyte_default").platform)
    prepare, submit = platform_class.prepare_inputs, platform_class.submit
    parsed: list[Any] = []
    submitted: list[Any] = []

    def counted_prepare(self: Any, interface: Any, inputs: Any) -> Any:
        parsed.append(prepare(self, interface, inputs))
        return parsed[-1]

    def watched_submit(self: Any, interface: Any, job: Any, **kwargs: Any) -> Any:
        submitted.append(job)
        return submit(self, interface, job, **kwargs)

    monkeypatch.setattr(platform_class, "prepare_inputs", counted_prepare)
    monkeypatch.setattr(platform_class, "submit", watched_submit)
    assert run_dag("t_hello_worker").state == "success"
    [job] = parsed
    [sent] = submitted
    assert sent is job
