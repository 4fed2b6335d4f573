"""A Flyte 2 control plane emulator on flyteidl2's generated Connect applications."""

from airflow_remote_tasks.emulators.flyte.app import FlyteEmulator

__all__ = ["FlyteEmulator"]
