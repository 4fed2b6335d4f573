"""The Avala platform against the emulator, below the operator: listings, run ids, rate limits, selectors."""

from __future__ import annotations

from airflow_remote_tasks.emulators.avala import DEMO_PROJECT


def platform_and_hook():
    from airflow_remote_tasks.platforms.avala.hook import AvalaHook

    hook = AvalaHook("avala_default")
    return hook.platform, hook


def pending_now(avala) -> set[str]:
    state = avala.emulator.state
    return {
        uid
        for uid, task in state.tasks.items()
        if task["project"] == DEMO_PROJECT and state.task_view(task)["status"] == "pending"
    }


def test_listing_keeps_every_task_that_kept_its_status_while_others_drift(avala):
    avala.emulator.state.pace = 1e9  # nothing moves by itself
    before = pending_now(avala)
    avala.emulator.state.drift_per_page = 50  # half of each 100-task page leaves 'pending' once served
    platform, hook = platform_and_hook()
    listed = [r.run_id for r in hook.run(platform.list_runs({"project": DEMO_PROJECT, "status": "pending"}))]
    kept = pending_now(avala)
    assert 0 < len(kept) < len(before)
    assert len(listed) == len(set(listed)) and kept <= set(listed) and set(listed) == before
