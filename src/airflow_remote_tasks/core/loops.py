"""Objects that belong to one event loop (pooled clients, status batchers, answers in flight), shared by every
trigger on it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from functools import partial
from typing import Generic, TypeVar

V = TypeVar("V")


class PerLoop(Generic[V]):
    """Values by key (a hashable object) on the running loop, made on first use; closed loops' are dropped."""

    def __init__(self) -> None:
        self._entries: dict[tuple[int, object], tuple[asyncio.AbstractEventLoop, V]] = {}
        self._lock = threading.Lock()

    def get(self, key: object, make: Callable[[], V], usable: Callable[[V], bool] = lambda _: True) -> V:
        loop = asyncio.get_running_loop()
        slot = (id(loop), key)
        # Found without the lock (a dict read is atomic): every poll of every wait asks, and only a miss changes
        # the entries.
        entry = self._entries.get(slot)
        if entry is not None and entry[0] is loop and usable(entry[1]):
            return entry[1]
        with self._lock:
            entry = self._entries.get(slot)
            if entry is None or entry[0] is not loop or not usable(entry[1]):
                for stale in [k for k, (other, _) in self._entries.items() if other.is_closed()]:
                    del self._entries[stale]
                entry = (loop, make())
                self._entries[slot] = entry
            return entry[1]

    def find(self, key: object) -> V | None:
        """The running loop's value for ``key``, if one was made (none is made here)."""
        loop = asyncio.get_running_loop()
        with self._lock:
            entry = self._entries.get((id(loop), key))
        return entry[1] if entry is not None and entry[0] is loop else None

    def discard(self, key: object, value: V) -> None:
        """Drop the running loop's value for ``key`` if it is ``value`` (not one made since in its place)."""
        slot = (id(asyncio.get_running_loop()), key)
        with self._lock:
            entry = self._entries.get(slot)
            if entry is not None and entry[1] is value:
                del self._entries[slot]

    def pop_running_loop(self) -> list[V]:
        """Take out the running loop's values (to close them)."""
        loop = asyncio.get_running_loop()
        with self._lock:
            mine = [k for k, (other, _) in self._entries.items() if other is loop]
            return [self._entries.pop(k)[1] for k in mine]


@dataclass
class _Flights(Generic[V]):
    """One loop's computations in flight, and the answers kept, by key. ``kept`` is in the order the answers
    came, which is the order they grow too old in."""

    running: dict[Hashable, asyncio.Future[V]] = field(default_factory=dict)
    kept: dict[Hashable, tuple[float, V]] = field(default_factory=dict)

    def forget_older_than(self, cutoff: float) -> None:
        while self.kept and next(iter(self.kept.values()))[0] <= cutoff:
            del self.kept[next(iter(self.kept))]


class SingleFlight(Generic[V]):
    """One computation per key in flight on each event loop, its answer shared by every caller that asks
    meanwhile: a token request when hundreds of triggers start together goes out once, not once each.

    A caller cancelled (a timeout) does not cancel the computation the others wait for; a failure reaches
    every caller waiting for it and is not kept. With ``keep_for`` seconds, an answer is also handed to the
    callers that ask that long after it came; an older one is dropped when any caller asks next."""

    def __init__(self, keep_for: float = 0.0) -> None:
        self.keep_for = keep_for
        self._loops: PerLoop[_Flights[V]] = PerLoop()

    async def get(
        self, key: Hashable, make: Callable[[], Awaitable[V]], *, fresh_for: float | None = None
    ) -> V:
        """The answer for ``key``: one kept at most ``fresh_for`` seconds ago (at most ``keep_for``, the
        default), else that of the computation in flight, else that of ``make()``, started now.

        :raises Exception: what the computation raised, to every caller that waited for it.
        """
        loop = asyncio.get_running_loop()
        flights = self._loops.get(None, _Flights)
        now = loop.time()
        flights.forget_older_than(now - self.keep_for)
        kept = flights.kept.get(key)
        if kept is not None and now - kept[0] < min(
            self.keep_for, self.keep_for if fresh_for is None else fresh_for
        ):
            return kept[1]
        running = flights.running.get(key)
        if running is None:
            running = asyncio.ensure_future(make())
            flights.running[key] = running
            running.add_done_callback(partial(self._landed, flights, key))
        return await asyncio.shield(running)

    def _landed(self, flights: _Flights[V], key: Hashable, done: asyncio.Future[V]) -> None:
        if flights.running.get(key) is done:
            del flights.running[key]
        if done.cancelled() or done.exception() is not None:  # retrieved: its callers may all have gone
            return
        if self.keep_for > 0:
            flights.kept.pop(key, None)  # re-inserted last: the newest answer
            flights.kept[key] = (asyncio.get_running_loop().time(), done.result())
