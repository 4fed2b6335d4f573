"""The asset watcher's trigger: an asset event each time a remote run the filter selects ends.

``Asset("...", watchers=[AssetWatcher("trained", trigger=RemoteEventTrigger(...))])`` schedules a DAG on the
runs' ends. Every watcher of one listing (a Flyte project, a Julep task) on one connection, polling at one
interval, shares one poll in the triggerer (``shared_stream_key``); each picks its own runs out of it.

A watcher fires on runs that end from its first listing on: what had ended before it started is its starting
point, not events. Its watermark (where it is, :mod:`airflow_remote_tasks.core.events`) is kept in the watched
asset's ``asset_state_store``, so a triggerer that restarts, or another that takes the watcher over, goes on
from there: runs that ended while no triggerer ran it fire then. A watermark is written at the poll after the
events it follows were handed to the triggerer, or when the triggerer stops the watcher, once they were handed
over long enough ago to have been sent on (:data:`SENT_AFTER`). A triggerer that dies before may fire those
events again where the watcher runs next, rather than lose them.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import AsyncIterator, Hashable
from datetime import datetime, timezone
from typing import Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from airflow_remote_tasks.core.errors import ConfigurationError, is_transient
from airflow_remote_tasks.core.events import (
    Changes,
    EndedRun,
    Watermark,
    caught_up,
    changes,
    first_since,
    next_since,
    parse_stamp,
    stamp,
    start,
)
from airflow_remote_tasks.core.retry import WAIT_READS
from airflow_remote_tasks.hooks.base import RemoteTaskHook
from airflow_remote_tasks.registry import declaration_named, hook_for_platform, platform_class

log = logging.getLogger(__name__)
# Shortest poll interval a watcher takes: one listing a second per shared poll is already a lot to ask of an API.
MIN_POLL_INTERVAL = 1.0
# How long after handing events over a watcher takes them as sent on: the triggerer sends its triggers' events
# to Airflow on each turn of its loop, at least once a second; twice that leaves room for a busy turn.
SENT_AFTER = 2.0
WATERMARK_KEY = "airflow_remote_tasks.watermark"  # the prefix of a watcher's key in the asset's state


class RemoteEventTrigger(BaseEventTrigger):
    """Fires one event per remote run that ends as ``event_filter`` says (the platform's fields and
    ``phases``, default ``["succeeded"]``), polling every ``poll_interval`` seconds. Every argument is plain
    JSON; never a credential. The filter is checked when the trigger is made (DAG-parse time).

    An event's payload: ``platform``, ``run_id``, ``task``, ``phase``, ``raw_phase``, ``ended_at``, ``ref``
    (the run's reference) and ``summary``; a state change adds its platform's details (an Avala project's task
    counts).

    :raises ConfigurationError: an unknown platform, one that fires no events, a filter it refuses, or a poll
        interval under :data:`MIN_POLL_INTERVAL`.
    """

    def __init__(
        self,
        conn_id: str,
        platform: str,
        event_filter: dict[str, Any],
        poll_interval: float = 60.0,  # a minute: ends are seen soon enough to schedule a DAG on
    ) -> None:
        super().__init__()
        self.conn_id = conn_id
        self.platform = platform
        self.event_filter = dict(event_filter)
        self.poll_interval = float(poll_interval)
        if self.poll_interval < MIN_POLL_INTERVAL:
            raise ConfigurationError(
                f"poll_interval={poll_interval!r} is too short for a watcher: use {MIN_POLL_INTERVAL:g} s or more."
            )
        self.checked = platform_class(declaration_named(platform)).check_event_filter(self.event_filter)
        self._hook: RemoteTaskHook | None = None
        self._pending: Watermark | None = None  # the watermark after the events of the last poll, unwritten
        self._pending_at = 0.0  # when those events were handed over (monotonic)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "conn_id": self.conn_id,
                "platform": self.platform,
                "event_filter": self.event_filter,
                "poll_interval": self.poll_interval,
            },
        )

    @property
    def hook(self) -> RemoteTaskHook:
        if self._hook is None:
            self._hook = hook_for_platform(self.platform, self.conn_id)
        return self._hook

    @property
    def listing_key(self) -> str:
        return json.dumps(self.checked.listing, sort_keys=True)

    def shared_stream_key(self) -> Hashable:
        # open_shared_stream reads only these: the watchers that agree on them share one poll.
        return (
            "airflow_remote_tasks.events",
            self.platform,
            self.conn_id,
            self.listing_key,
            self.poll_interval,
        )

    @classmethod
    async def open_shared_stream(cls, kwargs: dict[str, Any]) -> AsyncIterator[Any]:
        """The listing's ended runs, polled every ``poll_interval`` (plus what the platform's rate limit asks):
        each poll yields ``{"since": ..., "runs": [...]}``, the runs that ended since a moment that follows the
        newest end (:func:`~airflow_remote_tasks.core.events.next_since`). A transient failure is logged and
        the next poll tries again.

        :raises RemoteTaskError: a listing failed for good (an unknown project or task, refused credentials).
        """
        trigger = cls(**kwargs)
        since = first_since(datetime.now(timezone.utc))
        delay = 0.0  # the platform's rate limit, once its platform object is known
        while True:
            try:
                # Inside the retry: a connection read that fails for a moment must not end every watcher.
                platform = await trigger.hook.aplatform()
                delay = platform.poll_delay()
                runs = await trigger.hook.arun(
                    platform.ended_runs(trigger.checked.listing, since), WAIT_READS
                )
            except Exception as error:
                if not is_transient(error):
                    raise
                log.warning(
                    "Could not list the ended runs of %s (%s); trying again.", trigger.listing_key, error
                )
            else:
                yield {"since": stamp(since), "runs": [run.model_dump(mode="json") for run in runs]}
                since = next_since(since, runs)
            await asyncio.sleep(trigger.poll_interval + delay)

    async def filter_shared_stream(self, shared_stream: AsyncIterator[Any]) -> AsyncIterator[TriggerEvent]:
        """This watcher's events out of the shared listings, and its watermark kept (module docstring)."""
        try:
            async for event in self._filtered(shared_stream):
                yield event
        except (asyncio.CancelledError, GeneratorExit):
            # Stopped (the watcher moved to another triggerer, its DAG paused, the triggerer stopping): the
            # watermark after the events handed over is written now only when they were handed over long
            # enough ago to have been sent on (the triggerer sends its triggers' events every second), so that
            # they do not fire again where the watcher runs next. Younger ones may fire again; none is lost.
            await self._save_sent()
            raise

    async def _save_sent(self) -> None:
        """Write the watermark after the events last handed over, once they were handed over long enough ago to
        have been sent on to Airflow (:data:`SENT_AFTER`); else it stays pending."""
        pending = self._pending
        if pending is not None and time.monotonic() - self._pending_at >= SENT_AFTER:
            self._pending = None
            await self._save(pending)

    async def _filtered(self, shared_stream: AsyncIterator[Any]) -> AsyncIterator[TriggerEvent]:
        watermark = await self._load()
        async for snapshot in shared_stream:
            await self._save_sent()
            since = parse_stamp(snapshot["since"], "A shared listing's start")
            runs = [EndedRun.model_validate(run) for run in snapshot["runs"]]
            if watermark is None:
                watermark = start(runs, since, self.checked)
                await self._save(watermark)
                self.log.info("Watching %s from %s on.", self._what, stamp(watermark.since))
                continue
            gap = watermark.since < since
            if gap:
                # Behind the shared listing (no triggerer ran this watcher for a while): list the gap alone.
                try:
                    runs = await self.hook.arun(
                        (await self.hook.aplatform()).ended_runs(self.checked.listing, watermark.since),
                        WAIT_READS,
                    )
                except Exception as error:
                    if not is_transient(error):
                        raise
                    self.log.warning(
                        "Could not list the ended runs of %s (%s); trying again.", self._what, error
                    )
                    continue
            found = changes(runs, self.checked, watermark)
            if gap:  # listed from its own since on: from now on the shared listings hold what it needs
                found = Changes(events=found.events, watermark=caught_up(found.watermark, since))
            for run in found.events:
                self.log.info("%s: %s", self._what, run.to_event()["summary"])
                yield TriggerEvent(run.to_event())
            if found.events:
                self._pending, self._pending_at = found.watermark, time.monotonic()
            elif found.watermark != watermark:
                await self._save(found.watermark)
            watermark = found.watermark

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Alone (no shared poll): the same listing and filter, polled for this watcher only."""
        async for event in self.filter_shared_stream(self.open_shared_stream(self.serialize()[1])):
            yield event

    @property
    def _what(self) -> str:
        return f"Runs of {self.platform} {json.dumps(self.event_filter, sort_keys=True)}"

    @property
    def _key(self) -> str:
        """This watcher's key in the asset's state: several watchers of one asset each keep their own; a new
        poll interval keeps it."""
        watched = [self.platform, self.conn_id, self.event_filter]
        digest = hashlib.sha256(json.dumps(watched, sort_keys=True).encode()).hexdigest()[:16]
        return f"{WATERMARK_KEY}.{digest}"

    def _accessors(self) -> list[Any]:
        store = self.asset_state_store
        if store is None:  # not run by a triggerer for an asset (a test): the watermark lives in memory only
            return []
        # One trigger watches every asset whose watcher has the same arguments; Airflow names no iteration.
        return [*store._by_name.values(), *store._by_uri.values()]

    async def _load(self) -> Watermark | None:
        for accessor in self._accessors():
            stored = await accessor.aget(self._key)
            if stored:
                return Watermark.model_validate(stored)
        return None

    async def _save(self, watermark: Watermark) -> None:
        """Write the watermark; one that cannot be written now is written after the next poll (the events
        since may then fire again, never get lost)."""
        try:
            for accessor in self._accessors():
                await accessor.aset(self._key, watermark.model_dump(mode="json"))
        except (asyncio.CancelledError, GeneratorExit):
            raise
        except Exception as error:
            self.log.warning(
                "Could not keep the watermark of %s (%s); it is written later.", self._what, error
            )
            self._pending, self._pending_at = watermark, time.monotonic()
