"""RunService/WatchRuns: a server stream of run updates, filtered by org, cluster, project or task, with the
faults a client must survive (a refused stream, a stream that ends mid-way)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import suppress
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from connectrpc.code import Code
from connectrpc.errors import ConnectError
from flyteidl2.workflow import run_service_pb2 as rs

from airflow_remote_tasks.emulators.flyte.connect import action_of, from_dict, to_dict
from airflow_remote_tasks.emulators.flyte.state import EmulatedRun, FlyteState

# Seconds between a stream's looks at its runs: phases change on the clock (and tests move a run's clock),
# so there is nothing to be told of; 50 ms keeps an update's delay far below the clients' one second.
WATCH_LOOK_INTERVAL = 0.05
RUNS_PER_MESSAGE = 100  # updates of one look are sent in messages of at most this many runs
# Set (by the app) when the client of the stream being served hangs up: the stream then ends at its next look,
# where the generated application would notice only when it next sends.
HUNG_UP: ContextVar[asyncio.Event | None] = ContextVar("HUNG_UP", default=None)


@dataclass
class WatchFaults:
    """What goes wrong with WatchRuns, changed by tests or through ``POST /_emulator/watch-runs``."""

    # Answer every new stream ``unimplemented``, as a server without the method does.
    refuse: bool = False
    # End each stream this many seconds after it opened, with ``unavailable`` (0: never), as proxies end
    # long-lived streams.
    drop_after: float = 0.0
    # Whether a stream's first message holds the runs it selects that have not ended (their current state).
    # GUESS: WatchActionDetails starts with the current state (brief §12); for WatchRuns it is not verified,
    # so clients must not need it, and a test turns it off.
    first_state: bool = True
    # Send a stream's headers at once, before any message (connect-python sends them with the first), as a
    # server or proxy that flushes them does: a client must not wait for a message to take the stream as open.
    headers_first: bool = False

    def update(self, changes: dict[str, Any]) -> None:
        """:raises ValueError: for a key that is no fault of WatchRuns."""
        for key, value in changes.items():
            if key not in KNOWN_FAULTS:
                raise ValueError(f"unknown WatchRuns fault {key!r}; known: {', '.join(KNOWN_FAULTS)}")
            setattr(self, key, type(getattr(self, key))(value))


KNOWN_FAULTS = ("refuse", "drop_after", "first_state", "headers_first")


@dataclass
class _Stream:
    """One open stream: what it selects, and what it sent of each run it follows."""

    selects: Callable[[EmulatedRun], bool]
    created_seen: int  # how many of the state's runs (in creation order) it has looked at
    sent: dict[tuple[str, str, str], tuple[str, Any]] = field(default_factory=dict)
    dropped: asyncio.Event = field(default_factory=asyncio.Event)


def _looks(run: EmulatedRun, now: float) -> tuple[str, Any]:
    """What a client can see change: the phase, and a phase reported in its place."""
    return run.phase(now), run.reported_phase


class RunWatches:
    """The WatchRuns streams open now, over one :class:`FlyteState`."""

    def __init__(self, state: FlyteState) -> None:
        self.state = state
        self.faults = WatchFaults()
        self._open: list[_Stream] = []
        self.opened = 0  # streams served since the emulator started (refused ones too)

    @property
    def open_streams(self) -> int:
        return len(self._open)

    def drop_all(self) -> int:
        """End every open stream now with ``unavailable``; how many there were."""
        for stream in self._open:
            stream.dropped.set()
        return len(self._open)

    def control(self, payload: dict[str, Any] | None) -> dict[str, Any]:
        """``POST /_emulator/watch-runs``: ``{"refuse"?, "drop_after"?, "first_state"?, "headers_first"?,
        "drop_now"?}``.

        :raises ValueError: for an unknown key."""
        payload = dict(payload or {})
        dropped = self.drop_all() if payload.pop("drop_now", False) else 0
        self.faults.update(payload)
        return {
            "refuse": self.faults.refuse,
            "drop_after": self.faults.drop_after,
            "first_state": self.faults.first_state,
            "headers_first": self.faults.headers_first,
            "open_streams": self.open_streams,
            "dropped": dropped,
        }

    async def watch(self, request: rs.WatchRunsRequest) -> AsyncIterator[rs.WatchRunsResponse]:
        """The stream for ``request``: each change of a run it selects, as ``{runs: [Run]}`` messages.

        :raises ConnectError: ``unimplemented`` (the refuse fault), ``invalid_argument`` for no filter,
            ``unavailable`` once the stream is dropped."""
        self.opened += 1
        if self.faults.refuse:
            raise ConnectError(Code.UNIMPLEMENTED, "WatchRuns is not implemented by this server")
        stream = _Stream(selects=_filter(to_dict(request)), created_seen=0)
        hung_up = HUNG_UP.get() or asyncio.Event()
        drop_at = time.monotonic() + self.faults.drop_after if self.faults.drop_after > 0 else None
        self._open.append(stream)
        try:
            first = self._look(stream, first=True)
            if self.faults.first_state:
                for message in _messages(first):
                    yield message
            while True:
                timeout = WATCH_LOOK_INTERVAL
                if drop_at is not None:
                    timeout = max(min(timeout, drop_at - time.monotonic()), 0.0)
                with suppress(TimeoutError):
                    await asyncio.wait_for(stream.dropped.wait(), timeout)
                if hung_up.is_set():
                    return
                if stream.dropped.is_set() or (drop_at is not None and time.monotonic() >= drop_at):
                    raise ConnectError(Code.UNAVAILABLE, "the stream was dropped (emulator fault)")
                for message in _messages(self._look(stream)):
                    yield message
        finally:
            self._open.remove(stream)

    def _look(self, stream: _Stream, first: bool = False) -> list[EmulatedRun]:
        """The runs whose phase changed since the stream last looked (on the first look: those not ended)."""
        now = time.time()
        with self.state.lock:
            created = self.state.created[stream.created_seen :]
        stream.created_seen += len(created)
        changed: list[EmulatedRun] = []
        for run in created:
            if stream.selects(run) and not (first and run.is_terminal(now)):
                stream.sent[(run.project, run.domain, run.name)] = _looks(run, now)
                changed.append(run)
        if first:
            return changed
        new = {(r.project, r.domain, r.name) for r in changed}
        for key, seen in list(stream.sent.items()):
            run = self.state.runs[key]
            if key in new:
                continue
            looks = _looks(run, now)
            if looks != seen:
                stream.sent[key] = looks
                changed.append(run)
        for run in changed:  # an ended run changes no more: the stream stops following it
            if run.is_terminal(now) and run.reported_phase is None:
                stream.sent.pop((run.project, run.domain, run.name), None)
        return changed


def _messages(runs: list[EmulatedRun]) -> list[rs.WatchRunsResponse]:
    return [
        from_dict(
            {"runs": [{"action": action_of(r)} for r in runs[i : i + RUNS_PER_MESSAGE]]},
            rs.WatchRunsResponse(),
        )
        for i in range(0, len(runs), RUNS_PER_MESSAGE)
    ]


def _filter(body: dict[str, Any]) -> Callable[[EmulatedRun], bool]:
    """Which runs a WatchRunsRequest's ``target`` selects.

    :raises ConnectError: ``invalid_argument`` when it names no target."""
    if "projectId" in body:
        p = body["projectId"]
        org, name, domain = p.get("organization", ""), p.get("name", ""), p.get("domain", "")
        return lambda r: r.project == name and r.domain == domain and (not org or r.org == org)
    if "taskId" in body:
        t = body["taskId"]
        return lambda r: (
            r.project == t.get("project")
            and r.domain == t.get("domain")
            and r.task.name == t.get("name")
            and (not t.get("version") or r.task.version == t.get("version"))
        )
    if "org" in body:
        return lambda r: r.org == body["org"]
    if "clusterId" in body:  # the emulator is one cluster: every run is on it
        return lambda r: True
    raise ConnectError(Code.INVALID_ARGUMENT, "one of org, clusterId, projectId or taskId is required")
