"""DAGs in which a person answers a Julep execution that waits for input (ResumeRunOperator(ask=...)): run by
the real Airflow of the cluster tests, and by dag.test() in tests/airflow/test_human_input.py."""

from __future__ import annotations

import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, Param

from airflow_remote_tasks import HumanInput, RemoteTaskOperator, ResumeRunOperator

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "example_dags"))
from example_julep_human_input import PUBLISH, example_julep_human_input_dag  # noqa: F401  (scheduled for real)

START = datetime(2026, 1, 1)


def publish_dag(dag_id: str, **ask: Any) -> DAG:
    """draft (a Julep execution that stops at wait_for_input) -> decide (asks a person, resumes it)."""
    with DAG(dag_id, start_date=START, schedule=None, catchup=False, params={"title": "Hello"}) as dag:
        draft = RemoteTaskOperator(
            task_id="draft",
            conn_id="julep_default",
            task=PUBLISH,
            inputs={"title": "{{ params.title }}"},
            on_paused="succeed",
            poll_interval=0.2,
        )
        decide = ResumeRunOperator(
            task_id="decide",
            conn_id="julep_default",
            run_id="{{ ti.xcom_pull(task_ids='draft', key='run_id') }}",
            inputs={"source": "airflow"},  # what no person gives: the answer's inputs are laid over it
            poll_interval=0.2,
            retries=1,  # not used by what cannot fix itself (a rejection, an answer that does not fit)
            retry_delay=timedelta(0),
            ask=HumanInput(
                answers={"Publish": {"publish": True}, "Reject": None},
                params={"comment": Param("", type="string", maxLength=40)},
                responder_input="reviewer",
                **ask,
            ),
        )
        draft >> decide
    return dag


def asking_dag(dag_id: str, conn_id: str) -> DAG:
    """Only the question, about the run named in the DAG run's conf (``run``)."""
    with DAG(dag_id, start_date=START, schedule=None, catchup=False, params={"run": ""}) as dag:
        ResumeRunOperator(
            task_id="decide",
            conn_id=conn_id,
            run_id="{{ params.run }}",
            ask=HumanInput(answers={"OK": {}}),
            retries=1,  # not used: asking again cannot make a run wait for input
            retry_delay=timedelta(0),
        )
    return dag


human_input_publish = publish_dag("human_input_publish")
human_input_reject_fails = publish_dag("human_input_reject_fails", on_reject="fail")
human_input_julep = asking_dag("human_input_julep", "julep_default")
human_input_flyte = asking_dag("human_input_flyte", "flyte_default")
