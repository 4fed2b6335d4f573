"""The asset watcher's trigger: an asset event each time a remote run the filter selects ends.

``Asset("...", watchers=[AssetWatcher("trained", trigger=RemoteEventTrigger(...))])`` schedules a DAG on the
runs' ends. Every watcher of one listing (a Flyte project, a Julep task) on one connection, polling at one
interval, shares one poll in the triggerer (``shared_stream_key``); each picks its own runs out of it.

A watcher fires on runs that end from its first listing on: what had ended before it started is its starting
point, not events. Its watermark (where it is, :mod:`airflow_remote_tasks.core.events`) is kept in the watched
asset's ``asset_state_store``, so a triggerer that restarts, or another that takes the watcher over, goes on
from there: runs that ended while no triggerer ran it fire then. The shared poll runs in Airflow's ack mode
(:class:`ListingPoll`): the watermark after a listing's events is written once Airflow has stored them in its
database. A triggerer that dies before fires those events again where the watcher runs next, rather than lose
them; one that dies after neither loses nor repeats them. What is left is the moment between Airflow storing
the events and the write (a sync of the triggerer, about a second).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import AsyncIterator, Hashable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent
from airflow.triggers.shared_stream import AdvanceItem, AdvanceOutcome, SharedStreamProducer

from airflow_remote_tasks.core.errors import ConfigurationError, is_transient
from airflow_remote_tasks.core.events import (
    Changes,
    EndedRun,
    Watermark,
    caught_up,
    changes,
    first_since,
    next_since,
    stamp,
    start,
)
from airflow_remote_tasks.core.retry import WAIT_READS
from airflow_remote_tasks.hooks.base import RemoteTaskHook
from airflow_remote_tasks.registry import declaration_named, hook_for_platform, platform_class

log = logging.getLogger(__name__)
# Shortest poll interval a watcher takes: one listing a second per shared poll is already a lot to ask of an API.
MIN_POLL_INTERVAL = 1.0
WATERMARK_KEY = "airflow_remote_tasks.watermark"  # the prefix of a watcher's key in the asset's state


class RemoteEventTrigger(BaseEventTrigger):
    """Fires one event per remote run that ends as ``event_filter`` says (the platform's fields and
    ``phases``, default ``["succeeded"]``), polling every ``poll_interval`` seconds. Every argument is plain
    JSON; never a credential. The filter is checked when the trigger is made (DAG-parse time).

    An event's payload: ``platform``, ``run_id``, ``task``, ``phase``, ``raw_phase``, ``ended_at``, ``ref``
    (the run's reference) and ``summary``; a state change adds its platform's details (an Avala project's task
    counts).

    :raises ConfigurationError: an unknown platform, one that fires no events, a filter it refuses, or a poll
        interval under :data:`MIN_POLL_INTERVAL` or under the filter's own minimum (a costly listing's).
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
        self.checked.check_poll_interval(self.poll_interval)  # a costly listing's own minimum
        self._hook: RemoteTaskHook | None = None
        self._written: Watermark | None = None  # the watermark the asset's state holds, as far as known

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
        # The shared poll (ListingPoll) reads only these: the watchers that agree on them share one poll.
        return (
            "airflow_remote_tasks.events",
            self.platform,
            self.conn_id,
            self.listing_key,
            self.poll_interval,
        )

    @classmethod
    def create_shared_stream_producer(cls, kwargs: dict[str, Any]) -> ListingPoll:
        """The shared poll of the listing, in Airflow's ack mode: it tells the watchers' watermarks when Airflow
        has stored the events they made of a listing (:class:`ListingPoll`)."""
        return ListingPoll(cls(**kwargs))

    async def listings(self) -> AsyncIterator[Listing]:
        """The listing's ended runs, polled every ``poll_interval`` (plus what the platform's rate limit asks):
        each poll is a :class:`Listing` of the runs that ended since a moment that follows the newest end
        (:func:`~airflow_remote_tasks.core.events.next_since`). A transient failure is logged and the next poll
        tries again.

        :raises RemoteTaskError: a listing failed for good (an unknown project or task, refused credentials).
        """
        since = first_since(datetime.now(timezone.utc))
        delay = 0.0  # the platform's rate limit, once its platform object is known
        number = 0
        while True:
            try:
                # Inside the retry: a connection read that fails for a moment must not end every watcher.
                platform = await self.hook.aplatform()
                delay = platform.poll_delay()
                runs = await self.hook.arun(platform.ended_runs(self.checked.listing, since), WAIT_READS)
            except Exception as error:
                if not is_transient(error):
                    raise
                log.warning(
                    "Could not list the ended runs of %s (%s); trying again.", self.listing_key, error
                )
            else:
                yield Listing(number=number, since=since, runs=runs)
                number += 1
                since = next_since(since, runs)
            await asyncio.sleep(self.poll_interval + delay)

    async def filter_shared_stream(self, shared_stream: AsyncIterator[Any]) -> AsyncIterator[TriggerEvent]:
        """This watcher's events out of the shared listings (each a :class:`Listing`); the watermark after each
        listing is handed to it, to be written once Airflow has stored the events (module docstring).

        :raises RemoteTaskError: the runs it missed while no triggerer ran it could not be listed for good.
        """
        watermark = self._written = await self._load()
        async for listing in shared_stream:
            found = await self._changes(listing, watermark)
            if found is None:
                continue
            for run in found.events:
                self.log.info("%s: %s", self._what, run.to_event()["summary"])
                yield TriggerEvent(run.to_event())
            if watermark is None:
                self.log.info("Watching %s from %s on.", self._what, stamp(found.watermark.since))
            watermark = found.watermark
            if watermark != self._written:  # also one whose write failed: written with a later listing
                listing.watermarks.append((self, watermark))

    async def _changes(self, listing: Listing, watermark: Watermark | None) -> Changes | None:
        """The events of a listing and the watermark after them: none at the first listing (its starting point);
        ``None`` when the runs it missed could not be listed now (the next listing tries again)."""
        if watermark is None:
            return Changes(events=[], watermark=start(listing.runs, listing.since, self.checked))
        if watermark.since >= listing.since:
            return changes(listing.runs, self.checked, watermark)
        # Behind the shared listing (no triggerer ran this watcher for a while): list the gap alone.
        try:
            runs = await self.hook.arun(
                (await self.hook.aplatform()).ended_runs(self.checked.listing, watermark.since), WAIT_READS
            )
        except Exception as error:
            if not is_transient(error):
                raise
            self.log.warning("Could not list the ended runs of %s (%s); trying again.", self._what, error)
            return None
        found = changes(runs, self.checked, watermark)
        # Listed from its own since on: from now on the shared listings hold what it needs.
        return Changes(events=found.events, watermark=caught_up(found.watermark, listing.since))

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Alone (no shared poll, no word from Airflow of what it stored): the same listing and filter, polled
        for this watcher only; a listing's watermark is written once whoever runs this took its events (asked
        for the next)."""
        poll = ListingPoll(self)
        async for event in self.filter_shared_stream(poll.taken_listings()):
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

    async def write_watermark(self, watermark: Watermark) -> None:
        """Write the watermark; one that cannot be written now is written with a later listing (the events since
        may then fire again, never get lost)."""
        try:
            for accessor in self._accessors():
                await accessor.aset(self._key, watermark.model_dump(mode="json"))
        except (asyncio.CancelledError, GeneratorExit):
            raise
        except Exception as error:
            self.log.warning(
                "Could not keep the watermark of %s (%s); it is written later.", self._what, error
            )
        else:
            self._written = watermark


@dataclass
class Listing:
    """One poll of a shared listing, as each of its watchers gets it: the runs that ended from ``since`` on, and
    the watermarks the watchers hand back, written once Airflow has stored the events they made of it."""

    number: int  # polls of one shared listing count up from 0
    since: datetime
    runs: list[EndedRun]
    watermarks: list[tuple[RemoteEventTrigger, Watermark]] = field(default_factory=list)


class ListingPoll(SharedStreamProducer):
    """The poll of one listing that Airflow shares between its watchers, in ack mode: Airflow calls
    :meth:`advance` once every watcher's events of a listing are stored in its database, in listing order. The
    watermarks are written then, so that a triggerer killed before fires the events again where the watchers
    run next (never loses them), and one killed after neither loses nor repeats them."""

    def __init__(self, trigger: RemoteEventTrigger) -> None:
        self.trigger = trigger
        self.newest = -1  # the number of the newest listing handed to the watchers
        # Watchers that may have failed, by the newest listing handed out then: a watcher's watermark is written
        # again only from a listing handed out after that, which a failed watcher never gets.
        self.suspected: dict[RemoteEventTrigger, int] = {}

    async def open_stream(self) -> AsyncIterator[tuple[Listing, Listing]]:
        async for listing in self.trigger.listings():
            self.newest = listing.number
            yield listing, listing

    async def advance(self, batch: Sequence[AdvanceItem]) -> None:
        for item in batch:
            listing: Listing = item.broker_payload
            for watcher, watermark in listing.watermarks:
                if not item.outcome.is_clean:
                    # Some watcher of this listing failed (its events not confirmed stored in time): Airflow
                    # does not say which, and a later watermark of the failed one would move past them.
                    if watcher not in self.suspected:
                        log.warning(
                            "Airflow did not confirm the events of a listing of %s stored; their watermarks "
                            "are kept until the watchers take a new listing.",
                            self.trigger.listing_key,
                        )
                    self.suspected[watcher] = self.newest
                elif listing.number > self.suspected.get(watcher, -1):
                    self.suspected.pop(watcher, None)
                    await watcher.write_watermark(watermark)

    async def taken_listings(self) -> AsyncIterator[Listing]:
        """The listings for a watcher run alone: each advanced once the watcher asks for the next, its events
        taken by then."""
        async for listing, payload in self.open_stream():
            yield listing
            await self.advance([AdvanceItem(payload, AdvanceOutcome(acked=1, failed=0))])
