"""Labelbox and Avala DAGs pointed at servers that are not the platform's (tests/platforms/test_labelbox_avala_answers.py)."""

from __future__ import annotations

from airflow.sdk import DAG
from flyte_test_dags import remote_dag

ALL_DAGS: dict[str, DAG] = {}
# An export, whose first call looks its project up, with a retry that only a transient error may use.
remote_dag(
    "answers_labelbox",
    conn_id="answers_conn",
    task="export_project",
    inputs={"project_id": "ckproj0000000000000000001"},
    retries=1,
    collect=False,
    registry=ALL_DAGS,
)
remote_dag(
    "answers_avala",
    conn_id="answers_conn",
    task="export",
    inputs={"project": "proj-001"},
    retries=1,
    collect=False,
    registry=ALL_DAGS,
)
