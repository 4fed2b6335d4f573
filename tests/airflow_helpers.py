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


def write_to_db(*dags: DAG, unpaused: bool = False) -> None:
    """Write the DAGs to Airflow's database as the DAG processor does, so that their assets and schedules are
    known (dag.test() writes only the DAG it runs). ``unpaused``: unpause them and parse them again, as the DAG
    processor adds the triggers of an asset's watchers only for an unpaused DAG."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.collection import update_dag_parsing_results_in_db
    from airflow.models.dag import DagModel
    from airflow.serialization.serialized_objects import LazyDeserializedDAG
    from airflow.utils.session import create_session

    DagBundlesManager().sync_bundles_to_db()
    for parse in ("first", "unpaused") if unpaused else ("first",):
        with create_session() as session:
            update_dag_parsing_results_in_db(
                "dags-folder",
                None,
                [LazyDeserializedDAG.from_dag(d) for d in dags],
                {},
                None,
                set(),
                session=session,
            )
            if unpaused and parse == "first":
                for model in session.query(DagModel).filter(DagModel.dag_id.in_([d.dag_id for d in dags])):
                    model.is_paused = False
