"""Avala's REST API as one connection sees it: calls whose answers are checked for their shape, the rate limit
they report, DRF cursor listings (``{results, next, previous}``; the next page is the ``next`` URL) and lookups
of the projects and datasets a job names."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlencode

from airflow_remote_tasks.core.errors import NotFoundError
from airflow_remote_tasks.core.foreign import not_its_answer
from airflow_remote_tasks.core.operation import HttpRequest, HttpResponse, Operation
from airflow_remote_tasks.core.paging import Page, all_pages
from airflow_remote_tasks.platforms.avala.config import AvalaConfig
from airflow_remote_tasks.platforms.avala.wire import (
    BASE_URL_HINT,
    api_path,
    error_from_response,
    rate_limit_delay,
)

PAGE_SIZE = 100  # items a listing asks for per page: fewer calls per poll of a big set
MAX_RATE_DELAY = 60.0  # a nearly used-up rate limit slows a wait's polls by at most this much

# What a success answer must be, and that in words for the error when it is not: every Avala call answers a JSON
# object, a listing a DRF page of objects; a DELETE may answer nothing.
ANSWERS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "object": (lambda body: isinstance(body, dict), "an Avala answer (a JSON object)"),
    "page": (
        lambda body: (
            isinstance(body, dict)
            and isinstance(body.get("results"), list)
            and all(isinstance(item, dict) for item in body["results"])
        ),
        "an Avala page (a JSON object whose 'results' is a list of objects)",
    ),
    "any": (lambda body: True, "an Avala answer"),
    # A create answers the object it made: without its uid there is nothing to wait on.
    "created": (
        lambda body: isinstance(body, dict) and isinstance(body.get("uid"), str) and bool(body["uid"]),
        "an Avala object that was created (a JSON object with its 'uid')",
    ),
}


class AvalaApi:
    """The calls of one connection, and the rate limit its last answer reported."""

    def __init__(self, config: AvalaConfig) -> None:
        self.config = config
        self._delay = 0.0

    def call(
        self,
        method: str,
        path: str = "",
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        idempotent: bool = True,
        url: str = "",
        shape: str = "object",
    ) -> Operation[Any]:
        """The answer's JSON, which must be of ``shape`` (:data:`ANSWERS`).

        :raises UnexpectedAnswerError: for a success answer of another shape, naming the URL and what came back.
        :raises RemoteTaskError: for an error answer (see :func:`.wire.error_from_response`); one in someone
            else's words is an :class:`UnexpectedAnswerError` too, or for HTTP 429, 502, 503 or 504 a
            :class:`TransportError`.
        """
        target = url or self.config.url(path)
        if params:
            target += "?" + urlencode({k: v for k, v in params.items() if v is not None})
        response = yield HttpRequest(
            method,
            target,
            headers={"Accept": "application/json", **({"Content-Type": "application/json"} if body else {})},
            content=json.dumps(body).encode() if body is not None else None,
            idempotent=idempotent,
        )
        self._note_rate_limit(response)
        if not 200 <= response.status < 300:
            raise error_from_response(method, target, response)
        body = None if response.status == 204 or not response.content else response.json()
        fits, expected = ANSWERS[shape]
        if not fits(body):
            raise not_its_answer(target, response, expected, BASE_URL_HINT)
        return body

    def _note_rate_limit(self, response: HttpResponse) -> None:
        delay = rate_limit_delay(response.headers)
        if delay is not None:
            self._delay = delay

    def poll_delay(self) -> float:
        """Seconds to add before a wait's next poll, from the rate limit the last answer reported."""
        return min(self._delay, MAX_RATE_DELAY)

    def listing(self, path: str, params: Mapping[str, Any]) -> Operation[list[dict[str, Any]]]:
        """Every item of a listing, all cursor pages read. Raises as :meth:`call`."""

        def page(next_url: str | None) -> Operation[Page[dict[str, Any]]]:
            if next_url:  # the next URL carries the cursor and the filters
                body = yield from self.call("GET", url=next_url, shape="page")
            else:
                body = yield from self.call("GET", path, params={**params, "limit": PAGE_SIZE}, shape="page")
            return list(body["results"]), body.get("next")

        return (yield from all_pages(page))

    def check_exists(self, kind: str, uid: str, named: str = "") -> Operation[None]:
        """:raises NotFoundError: no such project or dataset (``kind``: ``projects`` or ``datasets``) is visible
        to the key (``named``: where the uid was given, for the message)."""
        path = api_path("users", "me", "projects", uid) if kind == "projects" else api_path("datasets", uid)
        try:
            yield from self.call("GET", path)
        except NotFoundError:
            raise NotFoundError(
                f"No Avala {kind[:-1]} {uid!r}{named} is visible to this connection's API key; check the uid.",
                status=404,
                code="not_found",
            ) from None
        return None
