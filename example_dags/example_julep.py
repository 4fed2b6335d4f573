"""Julep tasks as code: define a task in the DAG, run it, and resume an execution that waits for input.

Needs a connection ``julep_default`` of type ``remote_tasks_julep`` whose Agent ID names the agent the tasks
belong to. To try it offline, start the emulator (``remote-tasks emulator julep --port 8090``; it prints its
base URL and seeds an agent) and point the connection at it::

    AIRFLOW_CONN_JULEP_DEFAULT='{"conn_type": "remote_tasks_julep", "host": "http://127.0.0.1:8090/api",
        "password": "any-key", "extra": {"agent_id": "5e1f0000-0000-4000-8000-000000000001",
        "execution_link": "http://127.0.0.1:8090/dashboard/executions/{execution_id}"}}'

The Execution link is optional: with it, each task's "Remote run" link opens the execution's page (on the
emulator, a page it serves; elsewhere, wherever your Julep dashboard shows an execution).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import dag, task

from airflow_remote_tasks import RemoteTaskOperator, ResumeRunOperator

# Created on the connection's agent on first use, updated when this definition changes, else reused.
SUMMARIZE = {
    "name": "airflow-summarize",
    "description": "Count the words of a text and draft a one-line summary.",
    "input_schema": {
        "type": "object",
        "properties": {
            "text": {"type": "string", "minLength": 1},
            "audience": {"type": "string", "enum": ["engineers", "executives"], "default": "engineers"},
        },
        "required": ["text"],
    },
    "main": [
        {"evaluate": {"words": "$ len(steps[0].input.text.split())"}},
        {
            "prompt": "$ f'Summarize for {steps[0].input.audience}: {steps[0].input.text}'",
            "unwrap": True,
            "label": "draft",
        },
        {"return": {"summary": "$ _", "words": "$ steps[0].output.words"}},
    ],
}

REVIEW = {
    "name": "airflow-review",
    "description": "Ask a person to approve a summary before it is published.",
    "input_schema": {
        "type": "object",
        "properties": {"summary": {"type": "string"}},
        "required": ["summary"],
    },
    "main": [
        {"wait_for_input": {"info": {"question": "Publish this summary?", "summary": "$ _.summary"}}},
        {"return": {"approved": "$ _.approved", "by": "$ _.reviewer", "summary": "$ steps[0].input.summary"}},
    ],
}


@dag(
    dag_id="example_julep",
    start_date=datetime(2026, 1, 1),
    schedule=None,
    catchup=False,
    params={"text": "Airflow schedules the work and Julep runs the agent steps."},
    tags=["example", "julep", "remote-tasks"],
)
def example_julep() -> None:
    summarize = RemoteTaskOperator(
        task_id="summarize",
        conn_id="julep_default",
        task=SUMMARIZE,
        inputs={"text": "{{ dag_run.conf.get('text', params.text) }}"},
        deferrable=True,
        poll_interval=1,
        timeout=timedelta(minutes=10),
    )

    # The execution stops at wait_for_input; on_paused="succeed" hands its pending state downstream.
    review = RemoteTaskOperator(
        task_id="review",
        conn_id="julep_default",
        task=REVIEW,
        inputs={"summary": "{{ ti.xcom_pull(task_ids='summarize')['summary'] }}"},
        on_paused="succeed",
        poll_interval=1,
    )

    approve = ResumeRunOperator(
        task_id="approve",
        conn_id="julep_default",
        run_id="{{ ti.xcom_pull(task_ids='review', key='run_id') }}",
        inputs={"approved": True, "reviewer": "airflow"},
        deferrable=True,
        poll_interval=1,
    )

    @task
    def report(summary: dict[str, Any], decision: dict[str, Any]) -> str:
        line = (
            f"{summary['summary']!r} ({summary['words']} words); "
            f"approved={decision['approved']} by {decision['by']}"
        )
        print(f"Outputs received downstream: {line}")
        return line

    summarize >> review >> approve
    report(summarize.output, approve.output)


example_julep_dag = example_julep()
