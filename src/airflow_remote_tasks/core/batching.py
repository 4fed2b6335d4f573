"""Status reads of many waits on one platform, coalesced into batched calls in the triggerer.

Ten thousand deferred tasks polling every 10 s are a thousand status reads a second. Where the platform can
read several runs in one call (``Platform.statuses``), the reads that fall due within a short window share
one call. Between reads, the waits sleep to beats of their poll interval (:class:`Pace`): each wait keeps its
place in the interval, and the places are as many as half-full calls need, so a hundred waits make one call per
interval rather than one per gathering window.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import zlib
from collections.abc import Awaitable, Callable
from typing import Any

from airflow_remote_tasks.core.errors import is_transient
from airflow_remote_tasks.core.loops import PerLoop, SingleFlight
from airflow_remote_tasks.core.models import ListedRun, RunRef, RunStatus
from airflow_remote_tasks.core.operation import Operation
from airflow_remote_tasks.core.platform import Platform

log = logging.getLogger(__name__)
# After a server refused a batched read, runs are read one by one this long before batching is tried again:
# long enough not to be refused on every poll, short enough to batch again soon after an upgrade.
UNBATCHED_SECONDS = 600.0
Runner = Callable[[Operation[Any]], Awaitable[Any]]
Pending = tuple[RunRef, "asyncio.Future[RunStatus]"]


class Pace:
    """When the waits of one platform on one event loop poll: at beats that split each poll interval into
    places, as many as calls half full of runs need (a power of two, so the beats of fewer places stay beats of
    more). A wait's place comes from its run id, so the waits spread evenly over the interval however they
    started (a triggerer restart starts them all together), and the same waits meet at every poll: their reads
    fall due in one loop turn and share a call. Jitter, which it replaces here, spread the waits too, but also
    parted the waits of one call again on every poll."""

    def __init__(self, batch_limit: int) -> None:
        # Half a batch a place: places fill unevenly, and an overfull one costs a second call, not a delay.
        self._per_place = max(batch_limit // 2, 1)
        self._waits: dict[str, float] = {}  # the run ids read or slept on, with when last (loop time)
        self._kept_for = 0.0  # twice the longest pause asked: a wait not seen for that long has ended
        self._pruned_at = 0.0

    def saw(self, ref: RunRef) -> None:
        """A wait reads ``ref``: it counts among the waits from its first read (before its first pause)."""
        self._waits[ref.run_id] = asyncio.get_running_loop().time()

    def next_pause(self, ref: RunRef, seconds: float) -> float:
        """How long the wait on ``ref`` pauses: to its place's next beat, at most ``seconds`` (a pause is never
        longer than asked: deadlines and backoffs hold), and more than 0."""
        now = asyncio.get_running_loop().time()
        self._waits[ref.run_id] = now
        self._kept_for = max(self._kept_for, 2 * seconds)
        if now - self._pruned_at > self._kept_for:
            self._waits = {run_id: at for run_id, at in self._waits.items() if now - at <= self._kept_for}
            self._pruned_at = now
        places = 1 << max(math.ceil(len(self._waits) / self._per_place) - 1, 0).bit_length()
        beat = seconds / places
        offset = (zlib.crc32(ref.run_id.encode()) % places) * beat
        # The latest beat of the wait's place within the pause asked: one lies in every span of ``seconds``.
        wake = offset + math.floor((now + seconds - offset) / seconds) * seconds
        return wake - now if wake > now else seconds

    async def sleep(self, ref: RunRef, seconds: float) -> None:
        await asyncio.sleep(self.next_pause(ref, seconds))


class StatusBatcher:
    """Gathers status reads for one platform on one event loop and answers them from batched calls; its
    :attr:`pace` says when the waits read next."""

    def __init__(self, platform: Platform, run: Runner) -> None:
        self._platform = platform
        self._run = run
        self.pace = Pace(platform.status_batch_limit)
        self._pending: list[Pending] = []
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()  # strong references until each call is done
        self._unbatched_until = 0.0  # loop time until which reads go one by one (the batch call was refused)

    async def read(self, ref: RunRef, gather_for: float) -> RunStatus:
        """The run's status, read together with the others due within ``gather_for`` seconds."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[RunStatus] = loop.create_future()
        self._pending.append((ref, future))
        self.pace.saw(ref)
        when = loop.time() + gather_for
        if self._timer is None or when < self._timer.when():
            if self._timer is not None:
                self._timer.cancel()
            self._timer = loop.call_at(when, self._flush)
        return await future

    def _flush(self) -> None:
        self._timer = None
        pending = [(ref, future) for ref, future in self._pending if not future.done()]
        self._pending = []
        unbatched = asyncio.get_running_loop().time() < self._unbatched_until
        limit = 1 if unbatched else max(self._platform.status_batch_limit, 1)
        for start in range(0, len(pending), limit):
            self._spawn(self._read_batch(pending[start : start + limit]))

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _read_batch(self, batch: list[Pending]) -> None:
        if len(batch) == 1:
            await self._read_one(*batch[0])
            return
        try:
            found = await self._run(self._platform.statuses([ref for ref, _ in batch]))
        except Exception as error:
            if is_transient(error):  # each wait decides: its budget covers the next polls
                for _, future in batch:
                    if not future.done():
                        future.set_exception(error)
                return
            # The server will not answer this call (an older version, a proxy's size limit...): the runs
            # are not at fault. Read them one by one, and do not batch on this platform for a while.
            self._unbatched_until = asyncio.get_running_loop().time() + UNBATCHED_SECONDS
            log.warning(
                "A batched status read of %d runs was refused (%s); reading runs one by one for %.0f s.",
                len(batch),
                error,
                UNBATCHED_SECONDS,
            )
            for ref, future in batch:
                self._spawn(self._read_one(ref, future))
            return
        for ref, future in batch:
            if future.done():
                continue
            status = found.get(ref.run_id)
            if status is None:
                self._spawn(self._read_one(ref, future))
            else:
                future.set_result(status)

    async def _read_one(self, ref: RunRef, future: asyncio.Future[RunStatus]) -> None:
        try:
            status = await self._run(self._platform.status(ref))
        except Exception as error:
            if not future.done():
                future.set_exception(error)
            return
        if not future.done():
            future.set_result(status)


POLL_JITTER = 0.1


async def jittered_sleep(seconds: float) -> None:
    """Sleep ``seconds``, 10 % more or less. Waits whose reads were answered by one call would otherwise
    wake in the same loop turn on every poll, ten thousand at once (a triggerer restart starts them all
    together); jitter spreads them over the interval, and the gathering window still batches them."""
    await asyncio.sleep(seconds * random.uniform(1 - POLL_JITTER, 1 + POLL_JITTER))


_batchers: PerLoop[StatusBatcher] = PerLoop()


def status_batcher(platform: Platform, run: Runner) -> StatusBatcher:
    """The batcher for this platform object on the running loop."""
    return _batchers.get(platform, lambda: StatusBatcher(platform, run))


# A listing is reused by the waits on its selector that poll within half their interval of it (the triggers
# say how fresh); none waits longer than this, so a selector no longer waited on lets go of its runs.
LISTING_KEPT_FOR = 3600.0
_LISTINGS: SingleFlight[list[ListedRun]] = SingleFlight(keep_for=LISTING_KEPT_FOR)


async def shared_listing(
    platform: Platform, key: str, list_runs: Callable[[], Awaitable[list[ListedRun]]], fresh_for: float
) -> list[ListedRun]:
    """The runs ``key`` selects on ``platform``: however many waits on the same selector run on this event
    loop, a poll lists once (``list_runs()``); a listing in flight, or done within ``fresh_for`` seconds, is
    reused. Raises what the listing raised."""
    return await _LISTINGS.get((platform, key), list_runs, fresh_for=fresh_for)
