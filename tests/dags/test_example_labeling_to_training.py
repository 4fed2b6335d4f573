"""The labeling-to-training example's checks (labeling_to_training_checks.py), run in an Airflow of their own: a
fresh process, Airflow home and metadata database, as a user's first run of the example has. In this process's
database the other tests' DAGs, runs and sessions are there too, and the asset-triggered run the scheduler's
method makes for the evaluating DAG was not found after it was made (seen only in the whole suite)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
CHECKS = HERE / "labeling_to_training_checks.py"

pytestmark = [pytest.mark.airflow, pytest.mark.timeout(600)]


def test_the_labeling_to_training_example_in_an_airflow_of_its_own():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PYTEST_"))}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", str(CHECKS)],
        cwd=HERE.parents[1],
        env=env,
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "3 passed" in result.stdout, result.stdout[-2000:]
