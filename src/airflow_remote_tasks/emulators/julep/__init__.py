"""A Julep v1 REST server on loopback, for the demo, tests and offline DAG testing."""

from airflow_remote_tasks.emulators.julep.app import JulepEmulator
from airflow_remote_tasks.emulators.julep.state import DEMO_AGENT_ID

__all__ = ["DEMO_AGENT_ID", "JulepEmulator"]
