"""DAGs tests/core/test_core_review.py runs with dag.test(): a RemoteTaskOperator ("remote") whose inputs an upstream
task ("make") gives, as its XComArg or through a template."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import DAG, task

from airflow_remote_tasks import RemoteTaskOperator


def inputs_dag(dag_id: str, how: str, *, native: bool) -> DAG:
    with DAG(
        dag_id, start_date=datetime(2026, 1, 1), schedule=None, render_template_as_native_obj=native
    ) as dag:

        @task
        def make() -> dict[str, Any]:
            return {"name": "Grace", "n": 2}

        made = make()
        inputs = made if how == "xcomarg" else "{{ ti.xcom_pull(task_ids='make') }}"
        remote = RemoteTaskOperator(
            task_id="remote", conn_id="flyte_default", task="demo.say_hello", inputs=inputs, poll_interval=0.2
        )
        made >> remote
    return dag


review_inputs_xcomarg = inputs_dag("review_inputs_xcomarg", "xcomarg", native=True)
review_inputs_template = inputs_dag("review_inputs_template", "template", native=True)
# Without native rendering a template renders to a string: the task fails naming inputs.
review_inputs_text = inputs_dag("review_inputs_text", "template", native=False)
