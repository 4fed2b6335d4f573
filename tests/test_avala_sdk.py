"""The official avala SDK (0.10), sync and async, against the emulator: so the emulator speaks Avala."""

from __future__ import annotations

import asyncio

import avala as avala_sdk
import pytest
from avala.errors import NotFoundError

from airflow_remote_tasks.emulators.avala import DEMO_PROJECT
from conftest import AVALA_KEY

pytestmark = [pytest.mark.sdk]


@pytest.fixture
def client(avala, monkeypatch):
    monkeypatch.setenv("AVALA_ALLOW_INSECURE_BASE_URL", "true")  # plain http on loopback, as the SDK wants
    sdk = avala_sdk.Client(api_key=AVALA_KEY, base_url=avala.url)
    yield sdk
    sdk.close()


def every_task(client, **filters) -> list:
    tasks, cursor = [], None
    while True:
        page = client.tasks.list(limit=100, cursor=cursor, **filters)
        tasks += page.items
        if not page.has_more:
            return tasks
        cursor = page.next_cursor


def test_sdk_lists_tasks_and_pages_to_the_end(client, avala):
    everything = every_task(client)
    assert len(everything) == len(avala.emulator.state.tasks) == 253
    mine = every_task(client, project=DEMO_PROJECT)
    assert len(mine) == 250 and {t.project for t in mine} == {DEMO_PROJECT}
    done = every_task(client, project=DEMO_PROJECT, status="completed")
    assert all(t.status == "completed" for t in done)
    one = client.tasks.get(mine[0].uid)
    assert one.uid == mine[0].uid and one.type in ("annotation", "review")
    with pytest.raises(NotFoundError):
        client.tasks.get("task-nope")


def test_sdk_creates_an_export_and_waits_for_it(client, avala):
    export = client.exports.create(project=DEMO_PROJECT)
    assert export.status == "pending"
    done = client.exports.wait(export.uid, interval=0.5, timeout=30)
    assert done.status == "exported" and done.download_url.endswith(".zip")


def test_sdk_creates_reads_and_cancels_an_auto_label_job(client, avala):
    avala.emulator.state.job_seconds = 60
    job = client.auto_label_jobs.create(
        DEMO_PROJECT, model_type="yolo", confidence_threshold=0.5, labels=["car"]
    )
    assert client.auto_label_jobs.get(job.uid).status in ("pending", "running")
    assert job.uid in [j.uid for j in client.auto_label_jobs.list(project=DEMO_PROJECT).items]
    assert client.auto_label_jobs.cancel(job.uid) is None
    assert client.auto_label_jobs.get(job.uid).status == "cancelled"


def test_async_sdk_against_the_emulator(avala, monkeypatch):
    monkeypatch.setenv("AVALA_ALLOW_INSECURE_BASE_URL", "true")

    async def scenario() -> tuple[int, str]:
        async with avala_sdk.AsyncClient(api_key=AVALA_KEY, base_url=avala.url) as client:
            page = await client.tasks.list(project=DEMO_PROJECT, limit=50)
            export = await client.exports.create(project=DEMO_PROJECT)
            done = await client.exports.wait(export.uid, interval=0.5, timeout=30)
            return len(page.items), done.status

    assert asyncio.run(scenario()) == (50, "exported")
