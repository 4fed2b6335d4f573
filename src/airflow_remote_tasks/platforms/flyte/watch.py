"""Flyte run updates streamed to the triggerer's waits (RunService/WatchRuns), instead of polled.

One stream per project and domain of a connection's platform object on each event loop (the triggerer's one
loop), fanned out to every wait on a run there: while it is healthy the waits read their runs' status from it
and make no calls, and a wait's pause ends as soon as the stream shows its run ended (:meth:`pause`). When
the server refuses the stream or it drops, the waits poll as they would without it, and the stream is asked
for again after a pause; once it is back, one batched read of every followed run catches what ended
meanwhile, since the stream tells only of changes. A stream with no waits left closes.

What goes over the wire is sans-I/O as everywhere (:mod:`~airflow_remote_tasks.platforms.flyte.run_stream`);
the executors read a stream only whole, so the one request of a stream is answered here, its messages handed
on as they arrive.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_remote_tasks.core.auth import authorized
from airflow_remote_tasks.core.errors import TransportError
from airflow_remote_tasks.core.executors import adrive, aexecute
from airflow_remote_tasks.core.loops import PerLoop
from airflow_remote_tasks.core.models import RunRef, RunStatus
from airflow_remote_tasks.core.operation import HttpRequest, HttpResponse, Operation
from airflow_remote_tasks.core.transport import shared_async_client
from airflow_remote_tasks.platforms.flyte.api import ROOT_ACTION
from airflow_remote_tasks.platforms.flyte.connect import EnvelopeReader
from airflow_remote_tasks.platforms.flyte.run_stream import (
    WATCH_IDLE_SECONDS,
    WATCH_LIMITS,
    WATCH_RUNS,
    Ending,
    ending_of,
    updated_statuses,
    watch_runs,
)
from airflow_remote_tasks.platforms.flyte.runs import FAILURES

if TYPE_CHECKING:
    from airflow_remote_tasks.platforms.flyte.platform import FlytePlatform

log = logging.getLogger(__name__)

# A wait that starts while its stream is being opened waits this long for it (and for the read that follows)
# before it polls: an open takes one round trip, and a server that sends nothing until a run changes (its
# headers come with its first message) must not hold the wait longer.
CONNECT_WAIT_SECONDS = 5.0
# A stream neither refused nor ended this long after it was asked for is taken as subscribed: a server that
# sends its headers only with its first message (connect-go's servers do) and has nothing to tell keeps
# silent, another flushes its headers and then keeps silent, while a refusal comes at once. A run that ends
# before a slower server subscribed is read after TRUSTED_SECONDS.
OPEN_GRACE_SECONDS = 1.0
# After a stream dropped: the first pause before asking again, doubled on each drop in a row up to the cap.
# The SDK starts at 0.5 s too (brief §12); the cap keeps a triggerer from asking a struggling server more than
# twice a minute, while the waits' polls cover the time without the stream.
FIRST_RETRY_SECONDS = 0.5
MAX_RETRY_SECONDS = 30.0
# A stream that was healthy this long was no flapping one: the next drop starts the backoff afresh.
STABLE_SECONDS = 10.0
# After the server refused the stream (no WatchRuns, or refused credentials): long enough not to be refused
# on every poll, short enough to stream again soon after an upgrade (as batched reads: UNBATCHED_SECONDS).
REFUSED_RETRY_SECONDS = 600.0
# A followed run no wait read or paused on for this long (beyond its pause) is dropped: a wait that was
# cancelled or ended on another phase leaves no word. It covers a read's own retries and the pauses after
# failed reads (at most 30 s, waiting.tolerated_read).
LEASE_SECONDS = 120.0
# A run handed to a wait as ended is kept this long more, for the other waits on it (woken together).
ENDED_KEPT_SECONDS = 5.0
SWEEP_SECONDS = 5.0  # how often a stream drops the runs no wait follows any more
# A status the stream (or the read when it opened) gave is trusted this long, then read once more: a stream
# that silently missed an update (a proxy that holds messages back, a server fault) delays a wait this much
# at most, and a quiet run costs one batched read per interval.
TRUSTED_SECONDS = 600.0

Poll = Callable[[], Awaitable[RunStatus]]


class State(enum.Enum):
    CONNECTING = "connecting"  # asked for, not answered yet: waits that start now wait for it a little
    STREAMING = "streaming"  # answered: updates arrive; the catch-up read may still be under way
    DOWN = "down"  # refused or dropped, asked again after a pause: waits poll
    CLOSED = "closed"  # no waits left


# Whether a wait's read may be answered from the stream, in each state (it also needs a fresh status).
ANSWERS_READS = {State.CONNECTING: False, State.STREAMING: True, State.DOWN: False, State.CLOSED: False}


@dataclass(eq=False)
class FollowedRun:
    """A run the stream follows for the waits on it."""

    ref: RunRef
    poll: Poll  # the latest wait's read without the stream, for the catch-up read
    expires: float
    status: RunStatus | None = None
    # Until when the status may answer reads: it was seen while the stream open now was healthy, which tells
    # of any later change (0: read it again).
    fresh_until: float = 0.0
    version: int = 0  # counts the stream's updates, so a poll's older answer never overwrites one
    ended: asyncio.Event = field(default_factory=asyncio.Event)

    def pausing(self, seconds: float) -> None:
        self.expires = max(self.expires, time.monotonic() + seconds + LEASE_SECONDS)

    @property
    def fresh(self) -> bool:
        return self.status is not None and self.fresh_until > time.monotonic()

    def trust(self, trusted: bool = True) -> None:
        self.fresh_until = time.monotonic() + TRUSTED_SECONDS if trusted else 0.0


class ProjectStream:
    """The WatchRuns stream of one project and domain of one platform object, on one event loop."""

    def __init__(self, platform: FlytePlatform, org: str, project: str, domain: str) -> None:
        self.platform = platform
        self.org, self.project, self.domain = org, project, domain
        self.key = (platform, org, project, domain)  # its key in _STREAMS
        self.state = State.CONNECTING
        self.followed: dict[str, FollowedRun] = {}
        self.epoch = 0  # counts the streams opened, so a poll knows whether the stream it began in still runs
        self._settled = asyncio.Event()  # set once the stream is healthy and caught up, or is down
        self._catching_up: asyncio.Future[Any] | None = None
        self._task: asyncio.Task[None] | None = None
        self._sweeper: asyncio.TimerHandle | None = None
        self._healthy_since: float | None = None  # when the stream open now was answered

    @property
    def closed(self) -> bool:
        return self.state is State.CLOSED

    @property
    def where(self) -> str:
        return f"Flyte project {self.project}/{self.domain}"

    async def read(self, ref: RunRef, poll: Poll) -> RunStatus:
        """The run's status: from the stream while it is healthy and has shown the run, else ``poll()``.

        :raises Exception: what ``poll()`` raises."""
        run = self._follow(ref, poll)
        if self.state is State.CONNECTING:
            with suppress(TimeoutError):
                await asyncio.wait_for(self._settled.wait(), CONNECT_WAIT_SECONDS)
        if self._catching_up is not None:
            await asyncio.shield(self._catching_up)
        if ANSWERS_READS[self.state] and run.fresh:
            assert run.status is not None  # fresh means there is one
            return self._handed(run, run.status)
        return self._handed(run, await self._poll(run, poll))

    async def pause(self, ref: RunRef, seconds: float, sleep: Callable[[float], Awaitable[None]]) -> None:
        """``sleep(seconds)``, ended early once the stream shows the run ended."""
        run = self.followed.get(ref.run_id)
        if run is None:  # not read through the stream (yet): nothing would end the pause early
            return await sleep(seconds)
        run.pausing(seconds)
        if run.ended.is_set():
            return None
        slept = asyncio.ensure_future(sleep(seconds))
        ended = asyncio.ensure_future(run.ended.wait())
        try:
            await asyncio.wait((slept, ended), return_when=asyncio.FIRST_COMPLETED)
        finally:
            slept.cancel()
            ended.cancel()
        return None

    def _follow(self, ref: RunRef, poll: Poll) -> FollowedRun:
        run = self.followed.get(ref.run_id)
        now = time.monotonic()
        if run is None:
            run = self.followed[ref.run_id] = FollowedRun(ref=ref, poll=poll, expires=now + LEASE_SECONDS)
        run.poll = poll
        run.expires = max(run.expires, now + LEASE_SECONDS)
        if self._task is None and not self.closed:
            self._task = asyncio.ensure_future(self._keep_streaming())
            self._sweeper = asyncio.get_running_loop().call_later(SWEEP_SECONDS, self._sweep)
        return run

    def _handed(self, run: FollowedRun, status: RunStatus) -> RunStatus:
        if status.is_terminal:
            run.expires = min(run.expires, time.monotonic() + ENDED_KEPT_SECONDS)
        return status

    async def _poll(self, run: FollowedRun, poll: Poll) -> RunStatus:
        """``poll()``, kept as the run's status unless the stream told of a newer one meanwhile."""
        version, epoch, streaming = run.version, self.epoch, self.state is State.STREAMING
        status = await poll()
        if run.version != version and run.status is not None:
            return run.status
        if not (run.status is not None and run.status.is_terminal and not status.is_terminal):
            run.status = status
        if streaming and epoch == self.epoch and self.state is State.STREAMING:
            run.trust()
        if status.is_terminal:
            run.ended.set()
        return status

    # -- the stream ------------------------------------------------------------------------------------

    async def _keep_streaming(self) -> None:
        drops = 0
        while not self.closed:
            self.state = State.CONNECTING
            self._settled.clear()
            error: BaseException | None = None
            try:
                await adrive(
                    authorized(
                        watch_runs(self.platform.api, self.org, self.project, self.domain),
                        self.platform.auth,
                        self.platform.api_origin,
                    ),
                    self._respond,
                )
            except asyncio.CancelledError:
                raise
            except Exception as raised:  # every failure of a stream is answered by polling meanwhile
                error = raised
            healthy_since = self._healthy_since
            self._went_down()
            ending = ending_of(error)
            if healthy_since is not None and time.monotonic() - healthy_since >= STABLE_SECONDS:
                drops = 0
            drops += 1
            delay = (
                REFUSED_RETRY_SECONDS
                if ending is Ending.REFUSED
                else min(FIRST_RETRY_SECONDS * 2 ** (drops - 1), MAX_RETRY_SECONDS)
            )
            log.warning(
                "Run updates of %s (WatchRuns) %s (%s): its %d waits poll until they are back; asking again in "
                "%.1f s.",
                self.where,
                "were refused" if ending is Ending.REFUSED else "stopped",
                error or "the stream ended",
                len(self.followed),
                delay,
            )
            await asyncio.sleep(delay)

    async def _respond(self, request: HttpRequest) -> HttpResponse:
        if request.stream is not WATCH_LIMITS:  # the credentials' own calls (a token)
            return await aexecute(_sent(request), shared_async_client(self.platform.client_settings))
        return await self._stream(request)

    async def _stream(self, request: HttpRequest) -> HttpResponse:
        """Send the stream's request; hand each message on as it arrives; answer with the end.

        :raises httpx.HTTPError: the stream broke (or stayed silent for WATCH_IDLE_SECONDS).
        :raises TransportError: a compressed message."""
        client = shared_async_client(self.platform.client_settings)
        assert isinstance(request.content, bytes)  # one envelope, as watch_runs makes it
        built = client.build_request(
            request.method, request.url, headers=dict(request.headers), content=request.content
        )
        built.extensions["timeout"] = {**built.extensions.get("timeout", {}), "read": WATCH_IDLE_SECONDS}
        grace = asyncio.get_running_loop().call_later(OPEN_GRACE_SECONDS, self._quietly_open)
        try:
            raw = await client.send(built, stream=True)
            try:
                answer = HttpResponse(raw.status_code, dict(raw.headers), b"", request.url)
                if raw.status_code != 200 or answer.content_type != "application/connect+json":
                    grace.cancel()
                    return HttpResponse(answer.status, answer.headers, await raw.aread(), request.url)
                reader = EnvelopeReader()
                async for chunk in raw.aiter_raw():
                    try:
                        messages = reader.feed(chunk)
                    except ValueError:
                        raise TransportError(f"{WATCH_RUNS} sent a message that is not JSON.") from None
                    if messages and self.state is not State.STREAMING:
                        self._healthy()
                    for message in messages:
                        self._apply(message)
                    if reader.end is not None:  # a refusal comes as the end at once: never healthy
                        break
                return HttpResponse(answer.status, answer.headers, reader.end or b"", request.url)
            finally:
                await raw.aclose()
        finally:
            grace.cancel()

    def _quietly_open(self) -> None:
        """Neither refused nor ended within OPEN_GRACE_SECONDS: taken as subscribed, whether its headers came
        (a server may flush them at once) or not (connect-go's come with the first message)."""
        if self.state is State.CONNECTING:
            self._healthy()

    def _healthy(self) -> None:
        """The server answered: updates arrive from now on. What changed before is read once, for every run."""
        self.state, self.epoch = State.STREAMING, self.epoch + 1
        self._healthy_since = time.monotonic()
        for run in self.followed.values():
            run.trust(False)
        log.info("Following run updates of %s (WatchRuns) for %d waits.", self.where, len(self.followed))
        catching_up = asyncio.ensure_future(self._catch_up(list(self.followed.values())))
        self._catching_up = catching_up

        def caught_up(done: asyncio.Future[Any]) -> None:
            if self._catching_up is done:
                self._catching_up = None
                self._settled.set()

        catching_up.add_done_callback(caught_up)

    async def _catch_up(self, runs: list[FollowedRun]) -> None:
        """One read of ``runs`` (batched by the polls), so a run that ended while no stream was open is seen.
        A run whose read fails is read by its wait's next poll."""
        await asyncio.gather(*(self._poll(run, run.poll) for run in runs), return_exceptions=True)

    def _apply(self, message: dict[str, Any]) -> None:
        for name, status in updated_statuses(message).items():
            run = self.followed.get(name)
            if run is None:
                continue  # a run of the project no wait here waits on
            run.version += 1
            run.status = status
            # A failure's message is not in the stream's runs: the wait reads it (GetRunDetails) once.
            run.trust(not (status.phase in FAILURES and not status.message))
            if status.is_terminal:
                run.ended.set()

    def _went_down(self) -> None:
        # A catch-up read under way goes on (its answers are polls like any other), but no wait waits for it.
        self._catching_up = None
        self._healthy_since = None
        if not self.closed:
            self.state = State.DOWN
        for run in self.followed.values():
            run.trust(False)
        self._settled.set()

    def _sweep(self) -> None:
        now = time.monotonic()
        for name, run in list(self.followed.items()):
            if run.expires <= now:
                del self.followed[name]
        if self.followed:
            self._sweeper = asyncio.get_running_loop().call_later(SWEEP_SECONDS, self._sweep)
        else:
            self.close()

    def close(self) -> None:
        """Stop streaming: no waits are left."""
        self.state = State.CLOSED
        if self._sweeper is not None:
            self._sweeper.cancel()
        if self._task is not None:
            self._task.cancel()
        self._went_down()
        self.followed.clear()
        _STREAMS.discard(self.key, self)


def _sent(request: HttpRequest) -> Operation[HttpResponse]:
    return (yield request)


# A stream of each platform object, project and domain on each loop: it is dropped when it closes (no wait
# left on it), and with its loop.
_STREAMS: PerLoop[ProjectStream] = PerLoop()


class FlyteRunUpdates:
    """A platform object's streams of run updates (a :class:`~airflow_remote_tasks.core.platform.RunUpdates`).
    A stream tells of runs (their root action): a wait on another action polls."""

    def __init__(self, platform: FlytePlatform) -> None:
        self.platform = platform

    def _key(self, ref: RunRef) -> tuple[FlytePlatform, str, str, str]:
        scope = ref.scope
        return (self.platform, str(scope.get("org", "")), str(scope["project"]), str(scope["domain"]))

    def stream_of(self, ref: RunRef) -> ProjectStream:
        """The stream that covers ``ref``'s project and domain on the running loop (made if there is none)."""
        key = self._key(ref)
        return _STREAMS.get(key, lambda: ProjectStream(*key), usable=lambda stream: not stream.closed)

    async def read(self, ref: RunRef, poll: Poll) -> RunStatus:
        if ref.scope.get("action", ROOT_ACTION) != ROOT_ACTION:
            return await poll()
        return await self.stream_of(ref).read(ref, poll)

    async def pause(self, ref: RunRef, seconds: float, sleep: Callable[[float], Awaitable[None]]) -> None:
        stream = _STREAMS.find(self._key(ref))
        if stream is None or stream.closed:
            return await sleep(seconds)
        return await stream.pause(ref, seconds, sleep)
