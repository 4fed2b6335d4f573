"""`make demo`: what it says it covers, where it keeps what the DAGs wrote, and a whole run that cleans up after
itself."""

from __future__ import annotations

import os
import subprocess
import sys

import demo
import pytest

from support import ROOT


def test_demo_names_all_four_platforms():
    for name in ("Flyte 2 / Union", "Julep", "Labelbox", "Avala"):
        assert name in (demo.__doc__ or "")


def test_demo_output_is_kept_in_the_checkout_and_ignored_by_git():
    assert demo.OUTPUT == ROOT / "demo-output"
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", "demo-output/labelbox/manual__1/labels.ndjson"], cwd=ROOT, check=False
    )
    assert ignored.returncode == 0


@pytest.mark.airflow
def test_make_demo_cleans_up_and_points_onwards(tmp_path):
    import subprocess

    from support import ROOT

    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env["TMPDIR"] = str(tmp_path)
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "demo.py")],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    output = done.stdout + done.stderr
    assert "Outputs that reached the downstream task" in output
    assert "Next: `make airflow`" in output
    assert "Warning" not in output
    assert list(tmp_path.iterdir()) == []  # the throw-away Airflow home is gone
