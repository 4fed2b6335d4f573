"""A person answers a Julep execution that waits for input, in Airflow's own Required actions.

``draft`` starts an execution that stops at ``wait_for_input``; with ``on_paused="succeed"`` it hands the
pending state on. ``decide`` shows what the execution waits for (its ``info``, and its link) as a request in
Airflow's **Required actions** (the task waits in ``awaiting_input``), and resumes the execution with the
answer: ``Publish`` gives ``{"publish": true}``, plus the comment typed in and the name of the person who
answered. ``Reject`` cancels the execution and skips ``decide`` and ``report``. Needs the ``julep_default``
connection described in ``example_julep.py`` (the emulator works: ``remote-tasks emulator julep``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import Param, dag, task

from airflow_remote_tasks import HumanInput, RemoteTaskOperator, ResumeRunOperator

# Created on the connection's agent on first use, updated when this definition changes, else reused.
PUBLISH = {
    "name": "airflow-publish-review",
    "description": "Ask whether to publish a post; return the decision.",
    "input_schema": {
        "type": "object",
        "properties": {"title": {"type": "string", "minLength": 1}},
        "required": ["title"],
    },
    "main": [
        {"wait_for_input": {"info": {"question": "Publish this post?", "title": "$ _.title"}}},
        {
            "return": {
                "title": "$ steps[0].input.title",
                "publish": "$ _.publish",
                "comment": "$ _.comment",
                "by": "$ _.reviewer",
            }
        },
    ],
}

ASK = HumanInput(
    subject="Publish this post?",
    body="The Julep execution below asks whether to publish the post.",
    answers={"Publish": {"publish": True}, "Reject": None},
    params={"comment": Param("", type="string", description="Sent to the execution with the answer.")},
    responder_input="reviewer",
    on_reject="cancel",  # a rejection cancels the execution; "fail" would fail the task and leave it waiting
    response_timeout=timedelta(hours=8),
)


@dag(
    dag_id="example_julep_human_input",
    start_date=datetime(2026, 1, 1),
    schedule=None,
    catchup=False,
    params={"title": "Airflow answers Julep"},
    tags=["example", "julep", "remote-tasks", "human-in-the-loop"],
)
def example_julep_human_input() -> None:
    draft = RemoteTaskOperator(
        task_id="draft",
        conn_id="julep_default",
        task=PUBLISH,
        inputs={"title": "{{ dag_run.conf.get('title', params.title) }}"},
        on_paused="succeed",
        poll_interval=1,
    )

    decide = ResumeRunOperator(
        task_id="decide",
        conn_id="julep_default",
        run_id="{{ ti.xcom_pull(task_ids='draft', key='run_id') }}",
        ask=ASK,
        poll_interval=1,
    )

    @task
    def report(decision: dict[str, Any]) -> str:
        line = f"{decision['title']!r}: publish={decision['publish']} by {decision['by']} ({decision['comment']!r})"
        print(f"Outputs received downstream: {line}")
        return line

    draft >> decide
    report(decide.output)


example_julep_human_input_dag = example_julep_human_input()
