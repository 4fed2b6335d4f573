"""More Avala DAGs the tests run with dag.test() (tests/platforms/avala/test_avala.py): a set wait on a project that does not
exist."""

from __future__ import annotations

from airflow.sdk import DAG

from airflow_remote_tasks import RemoteRunsSensor

with DAG("av_set_unknown_project", schedule=None, catchup=False) as av_set_unknown_project:
    for deferrable in (True, False):
        RemoteRunsSensor(
            task_id=f"set_{'deferred' if deferrable else 'poke'}",
            conn_id="avala_default",
            select={"project": "proj-nope", "type": "annotation"},
            poke_interval=0.3,
            timeout=20,  # a wait on nothing would end here, with a timeout
            deferrable=deferrable,
        )
