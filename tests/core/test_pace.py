"""The pace of batched waits (core/batching.Pace): each wait sleeps to its place's next beat, never longer than
asked, and the places are as many as half-full calls need."""

from __future__ import annotations

import asyncio
import statistics
from collections import Counter

from airflow_remote_tasks.core.batching import Pace
from airflow_remote_tasks.core.models import RunRef


def ref(i: int) -> RunRef:
    return RunRef(platform="flyte", run_id=f"r{i}", scope={})


def test_a_pause_is_never_longer_than_asked_and_waits_that_started_apart_meet_at_one_beat():
    pace = Pace(batch_limit=200)

    async def wait(i: int) -> list[float]:
        loop = asyncio.get_running_loop()
        await asyncio.sleep(i * 0.004)  # started apart over 0.2 s, as deferred tasks arrive
        woke = []
        for _ in range(3):
            pause = pace.next_pause(ref(i), 0.5)
            assert 0 < pause <= 0.5
            await asyncio.sleep(pause)
            woke.append(loop.time())
        return woke

    async def scenario() -> list[list[float]]:
        return await asyncio.gather(*(wait(i) for i in range(50)))

    woke = asyncio.run(scenario())
    # Fifty waits are a quarter of a batch: one place. The first pause ends at the beat within it (two beats
    # for waits that started on either side of one); from the second on, all fifty wake at one beat.
    assert len({round(w[0], 2) for w in woke}) <= 2
    second = [w[1] for w in woke]
    assert max(second) - min(second) < 0.05, (min(second), max(second))
    assert all(abs((w[2] - w[1]) - 0.5) < 0.05 for w in woke)


def test_waits_by_the_thousand_spread_evenly_over_places_of_half_a_batch():
    pace = Pace(batch_limit=200)

    async def scenario() -> list[float]:
        loop = asyncio.get_running_loop()
        for i in range(1000):
            pace.saw(ref(i))  # every wait read once before it pauses, as a triggerer restart has it
        now = loop.time()
        return [(now + pace.next_pause(ref(i), 10.0)) % 10.0 for i in range(1000)]

    offsets = asyncio.run(scenario())
    places = Counter(round(offset / (10.0 / 16)) % 16 for offset in offsets)
    # 1,000 waits at 100 a place: 10 places, rounded up to 16 (a power of two).
    assert len(places) == 16, places
    assert max(places.values()) <= 2 * statistics.fmean(places.values()), places


def test_waits_not_seen_for_two_intervals_stop_counting():
    pace = Pace(batch_limit=2)  # one wait a place

    async def scenario() -> int:
        for i in range(8):
            pace.saw(ref(i))
        pace.next_pause(ref(0), 0.05)
        await asyncio.sleep(0.12)  # past twice the interval: the other seven ended
        pace.next_pause(ref(0), 0.05)
        return len(pace._waits)

    assert asyncio.run(scenario()) == 1
