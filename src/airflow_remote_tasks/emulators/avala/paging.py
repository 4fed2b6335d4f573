"""DRF ``CursorPagination`` pages, as Avala serves its listings: keyset cursors, not offsets.

A cursor is base64 of a query string: ``p`` the ordering key of the page's edge item, ``r=1`` for a page read
backwards (``previous``), ``o`` an offset among items that share ``p`` (never needed here: the key, the uid, is
unique). The next page holds the items after ``p`` that match the filters *now*, so an item leaving the
filtered set mid-listing cannot make the listing skip one that kept matching, as an offset would.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode

MAX_LIMIT = 1000


class InvalidCursor(ValueError):
    """The ``cursor`` parameter is not one this server made (DRF answers 404 "Invalid cursor")."""


@dataclass(frozen=True)
class Cursor:
    position: str | None = None
    reverse: bool = False
    offset: int = 0

    def encode(self) -> str:
        tokens: dict[str, str] = {}
        if self.offset:
            tokens["o"] = str(self.offset)
        if self.reverse:
            tokens["r"] = "1"
        if self.position is not None:
            tokens["p"] = self.position
        return base64.b64encode(urlencode(tokens).encode()).decode()

    @classmethod
    def decode(cls, text: str) -> Cursor:
        """:raises InvalidCursor: not base64 of a querystring with a whole ``o``."""
        try:
            tokens = parse_qs(base64.b64decode(text.encode(), validate=True).decode(), keep_blank_values=True)
            return cls(
                position=tokens["p"][0] if "p" in tokens else None,
                reverse=tokens.get("r", ["0"])[0] == "1",
                offset=max(int(tokens.get("o", ["0"])[0]), 0),
            )
        except (binascii.Error, UnicodeDecodeError, ValueError) as error:
            raise InvalidCursor(text) from error


@dataclass(frozen=True)
class KeysetPage:
    results: list[dict[str, Any]]
    next: Cursor | None
    previous: Cursor | None


def keyset_page(
    items: list[dict[str, Any]], cursor: Cursor | None, limit: int, key: str = "uid"
) -> KeysetPage:
    """The page of ``items`` (already filtered) that ``cursor`` points to, in ``key`` order.

    :raises InvalidCursor: the cursor carries an offset, which no cursor of this server does.
    """
    if cursor is not None and cursor.offset:
        raise InvalidCursor(cursor.encode())
    ordered = sorted(items, key=lambda item: str(item[key]))
    position = cursor.position if cursor else None
    if cursor is not None and cursor.reverse and position is not None:
        before = [item for item in ordered if str(item[key]) < position]
        page = before[-limit:]
        more_before, more_after = len(before) > limit, True
    else:
        after = [item for item in ordered if position is None or str(item[key]) > position]
        page = after[:limit]
        more_before, more_after = position is not None, len(after) > limit
    if not page:
        return KeysetPage([], None, None)
    return KeysetPage(
        page,
        Cursor(position=str(page[-1][key])) if more_after else None,
        Cursor(position=str(page[0][key]), reverse=True) if more_before else None,
    )


def page_links(base: str, params: dict[str, str], page: KeysetPage) -> dict[str, Any]:
    """The DRF page body: ``next``/``previous`` are absolute URLs carrying the filters and the cursor."""

    def link(cursor: Cursor | None) -> str | None:
        return None if cursor is None else f"{base}?{urlencode({**params, 'cursor': cursor.encode()})}"

    return {"results": page.results, "next": link(page.next), "previous": link(page.previous)}
