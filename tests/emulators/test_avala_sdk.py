"""The official avala SDK (0.10), sync and async, against the emulator: so the emulator speaks Avala."""

from __future__ import annotations

import asyncio

import avala as avala_sdk
import pytest
from avala.errors import NotFoundError

from airflow_remote_tasks.emulators.avala import DEMO_PROJECT
from support import AVALA_KEY

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


def pending_now(avala) -> set[str]:
    state = avala.emulator.state
    return {
        uid
        for uid, task in state.tasks.items()
        if task["project"] == DEMO_PROJECT and state.task_view(task)["status"] == "pending"
    }


def test_sdk_status_filtered_listing_keeps_every_task_that_kept_its_status(client, avala):
    """People pick up tasks between page reads: half of each served page leaves 'pending'. A keyset cursor
    (DRF's) still returns every task that stayed pending; an offset cursor would skip as many as left."""
    avala.emulator.state.pace = 1e9  # no task moves by itself during the test
    before = pending_now(avala)
    assert len(before) == 249
    avala.emulator.state.drift_per_page = 50
    listed = [t.uid for t in every_task(client, project=DEMO_PROJECT, status="pending")]
    kept = pending_now(avala)
    assert 0 < len(kept) < len(before)  # the statuses did drift
    assert len(listed) == len(set(listed))
    assert kept <= set(listed), f"{len(kept - set(listed))} tasks that stayed pending were skipped"
    assert set(listed) == before  # and the ones that left were read before they left


def test_sdk_cursor_is_drf_keyset_shaped(client, avala):
    import base64
    from urllib.parse import parse_qs

    page = client.tasks.list(project=DEMO_PROJECT, limit=10)
    tokens = parse_qs(base64.b64decode(page.next_cursor).decode())
    assert tokens == {"p": [page.items[-1].uid]}  # the position: the last key of the page, no offset
    back = client.tasks.list(project=DEMO_PROJECT, limit=10, cursor=page.next_cursor)
    assert back.previous_cursor and parse_qs(base64.b64decode(back.previous_cursor).decode()) == {
        "r": ["1"],
        "p": [back.items[0].uid],
    }
    assert [
        t.uid for t in client.tasks.list(project=DEMO_PROJECT, limit=10, cursor=back.previous_cursor).items
    ] == [t.uid for t in page.items]
