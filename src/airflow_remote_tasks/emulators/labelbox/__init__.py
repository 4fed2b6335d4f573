"""A Labelbox GraphQL server on loopback, for the demo, tests and offline DAG testing."""

from airflow_remote_tasks.emulators.labelbox.app import LabelboxEmulator
from airflow_remote_tasks.emulators.labelbox.catalog import DEMO_DATASET_ID, DEMO_PROJECT_ID

__all__ = ["DEMO_DATASET_ID", "DEMO_PROJECT_ID", "LabelboxEmulator"]
