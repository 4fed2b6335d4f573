"""Objects that belong to one event loop (pooled clients, status batchers), shared by every trigger on it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
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
        with self._lock:
            entry = self._entries.get(slot)
            if entry is None or entry[0] is not loop or not usable(entry[1]):
                for stale in [k for k, (other, _) in self._entries.items() if other.is_closed()]:
                    del self._entries[stale]
                entry = (loop, make())
                self._entries[slot] = entry
            return entry[1]

    def pop_running_loop(self) -> list[V]:
        """Take out the running loop's values (to close them)."""
        loop = asyncio.get_running_loop()
        with self._lock:
            mine = [k for k, (other, _) in self._entries.items() if other is loop]
            return [self._entries.pop(k)[1] for k in mine]
