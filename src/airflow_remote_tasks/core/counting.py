"""The one sink that counts what passes through it: bytes, lines, and how far a download is."""

from __future__ import annotations

import logging
import time

from airflow_remote_tasks.core.operation import Sink

log = logging.getLogger(__name__)

# At most one progress line this often while a download runs: a log tail shows it moving, and an hour-long
# download adds some 120 lines, not one per chunk.
PROGRESS_EVERY = 30.0


class TooLarge(Exception):
    """More bytes arrived than a :class:`CountingSink`'s ``limit``; ``size`` is how many had by then."""

    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size


class CountingSink:
    """Passes bytes on to ``target`` and counts them, and the lines they hold. With ``progress`` (what is
    being downloaded, for the log), logs how far it is, at most once every :data:`PROGRESS_EVERY` seconds.

    :raises TooLarge: more than ``limit`` bytes arrived (nothing of the write that went over is passed on).
    """

    def __init__(
        self,
        target: Sink,
        limit: int | None = None,
        *,
        progress: str = "",
        total: int | None = None,
        rows: bool = False,
    ) -> None:
        self.target = target
        self.limit = limit
        self.progress = progress
        self.total = total
        self.counts_rows = rows
        self.bytes = 0
        self.lines = 0
        self._last = b"\n"
        self.started = self._reported = time.monotonic()

    def write(self, data: bytes) -> None:
        if not data:
            return
        self.bytes += len(data)
        if self.limit is not None and self.bytes > self.limit:
            raise TooLarge(self.bytes)
        self.lines += data.count(b"\n")
        self._last = data[-1:]
        self.target.write(data)
        now = time.monotonic()
        if self.progress and now - self._reported >= PROGRESS_EVERY:
            self._reported = now
            log.info("Downloading %s: %s so far", self.progress, self.describe())

    @property
    def rows(self) -> int:
        """Lines, counting a last line without a newline."""
        return self.lines + (0 if self._last == b"\n" else 1)

    def describe(self) -> str:
        """Bytes (of how many, where known), rows where they count, and the rate."""
        done = f" of {self.total:,} ({100 * self.bytes / self.total:.0f}%)" if self.total else ""
        rows = f", {self.rows:,} rows" if self.counts_rows else ""
        seconds = max(time.monotonic() - self.started, 1e-6)
        rate = self.bytes / seconds
        speed = f"{rate / 2**20:.1f} MiB/s" if rate >= 2**20 else f"{rate / 2**10:.1f} KiB/s"
        return f"{self.bytes:,} bytes{done}{rows} in {seconds:.1f} s ({speed})"

    def summary(self) -> dict[str, int]:
        """What XCom gets: ``bytes``, and ``rows`` for a line-oriented format."""
        return {"bytes": self.bytes, "rows": self.rows} if self.counts_rows else {"bytes": self.bytes}
