"""`make demo`'s promises that need no run: what it says it covers, and where it keeps what the DAGs wrote."""

from __future__ import annotations

import subprocess

import demo

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
