"""A big Avala export is served by the emulator with its memory flat: the zip is made while it is sent.

The emulator runs in this process (a server thread), so tracemalloc sees its allocations: the peak while the
export is downloaded is compared with the zip's size. An emulator that built the zip in memory would hold all
of it at once, so its peak would be the whole zip at least; this one's stays under a quarter. Figures are
printed.
"""

from __future__ import annotations

import json
import time
import tracemalloc
import zipfile

import httpx

from airflow_remote_tasks.emulators.avala import DEMO_PROJECT
from support import AVALA_KEY

ANNOTATIONS = 600  # per task: 250 tasks make a zip of about 4.3 MiB, holding about 15 MiB of JSON


def exported(avala) -> str:
    """The download URL of a new export of the project, once every task of it is done."""
    headers = {"X-Avala-Api-Key": AVALA_KEY}
    uid = httpx.post(f"{avala.url}/exports/", json={"project": DEMO_PROJECT}, headers=headers).json()["uid"]
    state = avala.emulator.state
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        export = httpx.get(f"{avala.url}/exports/{uid}/", headers=headers).json()
        done = all(state.task_view(t)["status"] == "completed" for t in state.tasks.values())
        if export["status"] == "exported" and done:
            return str(export["download_url"])
        time.sleep(0.1)
    raise AssertionError("the export did not finish")


def test_a_big_export_is_served_with_the_emulators_memory_flat(avala, tmp_path, capsys):
    url = exported(avala)
    target = tmp_path / "export.zip"
    avala.emulator.state.annotations_per_task = 1
    httpx.get(url).raise_for_status()  # a small first download: what is imported and cached once
    avala.emulator.state.annotations_per_task = ANNOTATIONS  # the zip is made at download time
    tracemalloc.start()
    try:
        with httpx.stream("GET", url, timeout=60) as response, target.open("wb") as out:
            assert response.status_code == 200
            for chunk in response.iter_bytes():
                out.write(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    with zipfile.ZipFile(target) as archive:
        held = archive.getinfo("annotations.json").file_size
        with archive.open("annotations.json") as member:
            rows = json.load(member)
    assert len(rows) == 250 and {len(row["annotations"]) for row in rows} == {ANNOTATIONS}
    zipped = target.stat().st_size
    with capsys.disabled():
        print(
            f"\nAvala export: {held / 2**20:.1f} MiB of JSON in a {zipped / 2**20:.1f} MiB zip; "
            f"peak of Python allocations while it was served and saved {peak / 2**20:.2f} MiB"
        )
    assert zipped > 3 * 2**20, "too small an export to tell memory held from the server's own buffers"
    assert peak < zipped / 4, "the emulator held a large share of the export in memory"
