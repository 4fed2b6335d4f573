"""An Avala REST server on loopback, for the demo, tests and offline DAG testing."""

from airflow_remote_tasks.emulators.avala.app import AvalaEmulator
from airflow_remote_tasks.emulators.avala.state import DEMO_DATASET, DEMO_PROJECT, SMALL_PROJECT

__all__ = ["DEMO_DATASET", "DEMO_PROJECT", "SMALL_PROJECT", "AvalaEmulator"]
