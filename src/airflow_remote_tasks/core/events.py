"""Asset events from remote runs that end, as an asset watcher sees them: the runs a listing shows ended since a
watermark, and the watermark that follows. No I/O: the platforms list, the trigger keeps the watermark.

A listing asks for the runs that ended at or after a moment (``since``). A run's end can be recorded a little
after that of a run that ended later, so ``since`` trails the newest end seen by :data:`LAG`, and the ids of the
runs that already fired since then are kept with it: a run listed again is not an event again. A change that
stands for several items (the data rows of a project that reached a workflow status) keeps its items there
instead: an item listed again fires again only once its time has moved on.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from pydantic import BaseModel, Field

from airflow_remote_tasks.core.errors import ConfigurationError
from airflow_remote_tasks.core.models import RunRef, RunStatus
from airflow_remote_tasks.core.phases import TERMINAL_PHASES, Phase, parse_phases

# How far behind the newest end seen a listing reaches back: ends recorded out of order by less than this (and
# clocks apart by less) are still seen. Five minutes: far beyond a database commit's delay.
LAG = timedelta(minutes=5)
# The phases an event fires on when the filter names none: what "a run finished" usually means.
DEFAULT_PHASES = ("succeeded",)
# The item ids an event of several items names (it counts them all): enough to act on a few, and the payload
# stays well within Airflow's trigger event size.
MAX_EVENT_ITEMS = 50


class EndedRun(BaseModel):
    """A run of a listing that has ended, or a state change a listing shows (every task of a project done): where
    to find it (its id is the change's, one per change), how it ended, when, and of which task."""

    ref: RunRef
    status: RunStatus
    ended_at: datetime
    task: str = Field(description="The task's name or id, as the filter names it.")
    details: dict[str, Any] = Field(
        default_factory=dict, description="What a state change carries besides (counts, ids), plain JSON."
    )
    summary: str = ""  # a state change's own; empty: the run's, made from the fields above
    items: dict[str, datetime] | None = Field(
        default=None,
        description="A change standing for several items (data rows), by id with each one's time: only items "
        "not fired before, or whose time moved on, make it an event, which holds only those; an empty dict is "
        "no event (it still moves the listing on). None: the run itself is the event.",
    )
    # What an item is, in the payload: "<item_name>_ids" (the first MAX_EVENT_ITEMS) and "<item_name>_count".
    item_name: str = "item"

    def to_event(self) -> dict[str, Any]:
        """The asset event's payload: the run's reference, its details and a small summary, plain JSON."""
        ended = stamp(self.ended_at)
        counted: dict[str, Any] = {}
        summary = self.summary
        items = self.items
        if items is not None:
            first = sorted(items, key=lambda key: (items[key], key))  # oldest first
            counted = {
                f"{self.item_name}_ids": first[:MAX_EVENT_ITEMS],
                f"{self.item_name}_count": len(first),
            }
            summary = f"{summary or self.task}: {len(first)} {self.item_name.replace('_', ' ')}s"
        return {
            "platform": self.ref.platform,
            "run_id": self.ref.run_id,
            "task": self.task,
            "phase": self.status.phase.value,
            "raw_phase": self.status.raw_phase,
            "ended_at": ended,
            "ref": self.ref.to_json(),
            **self.details,
            **counted,
            "summary": summary or f"{self.task} run {self.ref.run_id} {self.status.phase.value} at {ended}",
        }


class EventFilter(BaseModel):
    """A watcher's filter, checked: the listing it reads (shared by every watcher that reads the same one), and
    which of the listed runs fire it."""

    listing: dict[str, Any] = Field(description="What the platform lists, in its own terms (a project).")
    task: str = ""  # only runs of this task; empty: any
    phases: list[Phase]
    # A listing that costs the platform much (an export per poll) is polled no more often than this, in seconds.
    min_poll_interval: float = 0.0
    min_poll_reason: str = ""  # why, naming the setting that sets it

    def check_poll_interval(self, poll_interval: float) -> None:
        """:raises ConfigurationError: ``poll_interval`` is under :attr:`min_poll_interval`, saying why."""
        if poll_interval < self.min_poll_interval:
            raise ConfigurationError(
                f"poll_interval={poll_interval:g} is too short for this watcher: use "
                f"{self.min_poll_interval:g} s or more ({self.min_poll_reason})."
            )

    def wants(self, run: EndedRun) -> bool:
        return run.status.phase in self.phases and (not self.task or run.task == self.task)


class Watermark(BaseModel):
    """Where a watcher is: runs that ended before ``since`` are not listed any more, and ``fired`` holds the
    runs that ended at or after it that were already seen (by id, with their ends). Plain JSON."""

    since: datetime
    fired: dict[str, datetime] = Field(default_factory=dict)


class Changes(BaseModel):
    """The runs that are events at this listing, oldest end first, and the watermark after them."""

    events: list[EndedRun]
    watermark: Watermark


def stamp(moment: datetime) -> str:
    """RFC 3339 in UTC, as the watermarks and events hold it."""
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def parse_stamp(text: Any, what: str) -> datetime:
    """An RFC 3339 time as the platforms write it (``...Z`` or an offset; none means UTC).

    :raises ValueError: ``text`` is no such time, naming ``what``.
    """
    try:
        moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{what} {text!r} is not an RFC 3339 time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def check_phases(event_filter: Mapping[str, Any]) -> list[Phase]:
    """The phases a watcher's filter fires on (its ``phases``, default :data:`DEFAULT_PHASES`).

    :raises ConfigurationError: an unknown phase, or one a run does not end in (a watcher fires on ends, not on
        states that last), naming the phases it takes.
    """
    phases = event_filter.get("phases")
    try:
        chosen = parse_phases(DEFAULT_PHASES if phases is None else phases)
    except ValueError as error:
        raise ConfigurationError(f"The event filter's 'phases': {error}") from None
    lasting = sorted(p.value for p in chosen - TERMINAL_PHASES)
    if lasting:
        ends = ", ".join(sorted(p.value for p in TERMINAL_PHASES))
        raise ConfigurationError(
            f"The event filter's 'phases': A watcher fires when a run ends; {', '.join(lasting)} is not an "
            f"end. Use phases among: {ends}."
        )
    return sorted(chosen, key=lambda p: p.value)


def checked_id(event_filter: Mapping[str, Any], field: str, pattern: str, needs: str) -> str:
    """The filter's ``field``, an id of the platform's ``pattern``, stripped.

    :raises ConfigurationError: it is missing or no such id; the message is ``needs`` (what the filter needs,
        with an example) and the value given.
    """
    value = event_filter.get(field)
    if not isinstance(value, str) or not re.fullmatch(pattern, value.strip()):
        raise ConfigurationError(f"{needs}, not {value!r}.")
    return value.strip()


def first_since(now: datetime) -> datetime:
    """Where a new listing starts: :data:`LAG` before ``now``."""
    return now - LAG


def next_since(since: datetime, runs: Iterable[EndedRun]) -> datetime:
    """``since`` moved up to :data:`LAG` before the newest end listed (never back)."""
    newest = max((run.ended_at for run in runs), default=None)
    return since if newest is None else max(since, newest - LAG)


def start(runs: Iterable[EndedRun], since: datetime, wanted: EventFilter) -> Watermark:
    """The watermark of a watcher's first listing (listed from ``since``): what it holds has happened already,
    so none of it fires; the watcher fires on the runs that end from now on."""
    runs = list(runs)
    fired: dict[str, datetime] = {}
    for run in runs:
        if wanted.wants(run) and run.ended_at >= since:
            fired.update(
                _fresh(run.items, since, {}) if run.items is not None else {run.ref.run_id: run.ended_at}
            )
    return _kept(Watermark(since=next_since(since, runs), fired=fired))


def changes(runs: Iterable[EndedRun], wanted: EventFilter, watermark: Watermark) -> Changes:
    """The runs of a listing (from ``watermark.since`` or earlier) that are events: wanted, ended at or after
    ``since``, and not seen before; and the watermark after them."""
    runs = list(runs)
    new: dict[str, EndedRun] = {}
    fired = dict(watermark.fired)
    for run in runs:
        run_id = run.ref.run_id
        if not wanted.wants(run) or run.ended_at < watermark.since or run_id in new:
            continue  # (a run on two pages, one ended while paging, is one event)
        if run.items is None:
            if run_id not in fired:
                new[run_id] = run
                fired[run_id] = run.ended_at
            continue
        items = _fresh(run.items, watermark.since, fired)
        if items:
            new[run_id] = run.model_copy(update={"items": items})
            fired.update(items)
    events = sorted(new.values(), key=lambda run: (run.ended_at, run.ref.run_id))
    after = Watermark(since=next_since(watermark.since, runs), fired=fired)
    return Changes(events=events, watermark=_kept(after))


def caught_up(watermark: Watermark, since: datetime) -> Watermark:
    """The watermark of a watcher that listed everything from its own ``since`` on, once a shared listing from
    ``since`` has begun: moved up to it, so that the watcher reads the shared listings from then on instead of
    listing alone from an older moment until some run ends."""
    return _kept(Watermark(since=max(watermark.since, since), fired=watermark.fired))


def _fresh(
    items: Mapping[str, datetime], since: datetime, fired: Mapping[str, datetime]
) -> dict[str, datetime]:
    """The items timed at or after ``since`` that did not fire, or fired at an earlier time."""
    return {
        key: moment
        for key, moment in items.items()
        if moment >= since and (key not in fired or moment > fired[key])
    }


def _kept(watermark: Watermark) -> Watermark:
    """Without the runs that ended before ``since``: they are not listed again."""
    fired = {run_id: ended for run_id, ended in watermark.fired.items() if ended >= watermark.since}
    return Watermark(since=watermark.since, fired=fired)
