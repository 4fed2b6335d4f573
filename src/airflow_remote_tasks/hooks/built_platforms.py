"""The platform objects built from connections, shared by every hook in the process."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable

from airflow_remote_tasks.core.platform import Platform

# Thousands of triggers on one connection share one platform object (its token, its known projects), not one
# each. A changed connection has another key, so it gets a platform of its own; the oldest built is dropped
# once more than this many are kept (a triggerer serves a handful of connections, not hundreds).
MAX_BUILT_PLATFORMS = 64


class BuiltPlatforms:
    """Platforms by key (the hook class and a digest of the connection), built on first use. One eviction
    rule: beyond ``limit`` platforms, the one built longest ago goes."""

    def __init__(self, limit: int = MAX_BUILT_PLATFORMS) -> None:
        self.limit = limit
        self._platforms: dict[Hashable, Platform] = {}
        self._lock = threading.Lock()  # workers' threads and the triggerer's loop may build at once

    def get(self, key: Hashable, build: Callable[[], Platform]) -> Platform:
        """The platform kept for ``key``, else ``build()``'s, kept. Raises what ``build`` raises."""
        with self._lock:
            platform = self._platforms.get(key)
        if platform is not None:
            return platform
        platform = build()
        with self._lock:
            platform = self._platforms.setdefault(key, platform)
            while len(self._platforms) > self.limit:
                del self._platforms[next(iter(self._platforms))]
        return platform

    def clear(self) -> None:
        with self._lock:
            self._platforms.clear()


BUILT_PLATFORMS = BuiltPlatforms()
