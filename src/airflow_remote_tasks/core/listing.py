"""Listings filtered on a scope (a project, a project's domain) that the platform answers with an empty list
when the scope does not exist: without a lookup, a wait on such a listing would wait forever on "no runs"."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sized
from typing import Any, Generic, TypeVar

from airflow_remote_tasks.core.errors import ConfigurationError
from airflow_remote_tasks.core.operation import Operation

K = TypeVar("K", bound=Hashable)
L = TypeVar("L", bound=Sized)  # a listing: empty or not


def check_selector_fields(selector: Mapping[str, Any], fields: tuple[str, ...], what: str) -> None:
    """:raises ConfigurationError: ``selector`` names a field not in ``fields``, the fields ``what`` (``"Flyte
    run selectors"``) take."""
    unknown = sorted(set(selector) - set(fields))
    if unknown:
        raise ConfigurationError(
            f"{what} take {', '.join(fields)}; {', '.join(map(repr, unknown))} is not one of them."
        )


class KnownScopes(Generic[K]):
    """The scopes seen to exist, held by the platform object (one per connection in the process), so that a
    listing that finds something needs no lookup. A scope is looked up before its first listing and again
    whenever a listing comes back empty (it may have been deleted, or the credentials lost access, since)."""

    def __init__(self) -> None:
        self._known: set[K] = set()

    def listing(
        self, key: K, look_up: Callable[[], Operation[None]], listing: Callable[[], Operation[L]]
    ) -> Operation[L]:
        """``listing()``'s value, with the scope ``key`` looked up (``look_up()``) first when it is not known
        yet, or after the listing when it came back empty.

        :raises NotFoundError: what ``look_up`` raises when the scope does not exist, naming the field that
            gives it (the scope is then forgotten). Otherwise raises what the lookup or the listing raise.
        """
        looked_up = key not in self._known
        if looked_up:
            yield from self._look_up(key, look_up)
        listed = yield from listing()
        if not listed and not looked_up:
            yield from self._look_up(key, look_up)
        return listed

    def _look_up(self, key: K, look_up: Callable[[], Operation[None]]) -> Operation[None]:
        self._known.discard(key)  # until the lookup succeeds: a scope found gone stays unknown
        yield from look_up()
        self._known.add(key)
        return None
