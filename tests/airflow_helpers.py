"""Run test DAGs with dag.test() and read back what Airflow recorded."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from airflow.sdk import DAG

DAGS = Path(__file__).resolve().parent / "dags"


def load_dag(dag_id: str) -> DAG:
    import importlib

    sys.path.insert(0, str(DAGS))
    for name in ("flyte_test_dags", "julep_test_dags", "labelbox_test_dags", "avala_test_dags"):
        dags = importlib.import_module(name).ALL_DAGS
        if dag_id in dags:
            dag: DAG = dags[dag_id]
            return dag
    raise KeyError(dag_id)


class DagResult:
    def __init__(self, run: Any) -> None:
        self.run = run
        self.tis = {ti.task_id: ti for ti in run.get_task_instances()}

    @property
    def state(self) -> str:
        return str(self.run.state)

    def task_state(self, task_id: str) -> str:
        return str(self.tis[task_id].state)

    def xcom(self, task_id: str, key: str = "return_value") -> Any:
        from airflow.models.xcom import XComModel
        from airflow.utils.session import create_session

        with create_session() as session:
            row = (
                session.query(XComModel)
                .filter_by(dag_id=self.run.dag_id, run_id=self.run.run_id, task_id=task_id, key=key)
                .one_or_none()
            )
            return None if row is None else XComModel.deserialize_value(row)

    def all_xcom_values(self) -> list[Any]:
        from airflow.models.xcom import XComModel
        from airflow.utils.session import create_session

        with create_session() as session:
            rows = session.query(XComModel).filter_by(dag_id=self.run.dag_id, run_id=self.run.run_id).all()
            return [XComModel.deserialize_value(row) for row in rows]

    def try_number(self, task_id: str) -> int:
        return int(self.tis[task_id].try_number)


def run_dag(dag_id: str, conf: dict[str, Any] | None = None) -> DagResult:
    dag = load_dag(dag_id)
    return DagResult(dag.test(run_conf=conf))
