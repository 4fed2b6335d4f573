"""Listings that come in pages, whatever the page shape: tokens (Flyte), cursor URLs (Avala), offsets."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from airflow_remote_tasks.core.operation import Operation

T = TypeVar("T")
Page = tuple[list[T], str | None]

# A listing is read to its end on every poll; past this many items a selector is too wide to wait on.
MAX_LISTED = 100_000


def all_pages(
    fetch: Callable[[str | None], Operation[Page[T]]], limit: int = MAX_LISTED
) -> Operation[list[T]]:
    """Every item of a listing: ``fetch(cursor)`` reads one page and answers its items and the next page's
    cursor (``None`` or ``""`` at the end); the first call gets ``None``.

    :raises ValueError: the listing holds more than ``limit`` items.
    """
    items: list[T] = []
    cursor: str | None = None
    while True:
        page, cursor = yield from fetch(cursor)
        items += page
        if len(items) > limit:
            raise ValueError(f"the listing holds more than {limit:,} items")
        if not cursor:
            return items
