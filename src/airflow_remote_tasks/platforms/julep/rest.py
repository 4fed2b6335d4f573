"""Julep's REST conventions: JSON bodies, ``{"items": [...]}`` pages, ``{"detail": ...}`` errors."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlencode

from airflow_remote_tasks.core.errors import (
    AlreadyExistsError,
    ApiError,
    AuthenticationError,
    ConfigurationError,
    NotFoundError,
    UnexpectedAnswerError,
)
from airflow_remote_tasks.core.foreign import not_the_api
from airflow_remote_tasks.core.operation import HttpRequest, HttpResponse, Operation, path_segment
from airflow_remote_tasks.platforms.julep.config import JulepConfig

JSON_HEADERS = {"Accept": "application/json"}
BASE_URL_HINT = (
    "Check the connection's base URL: production is https://api.julep.ai/api, dev is https://dev.julep.ai/api, "
    "and a self-hosted server is its gateway's .../api (or the agents-api root)."
)
RETRYABLE_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})
PAGE_SIZE = 100  # the server's maximum for tasks and executions


def segment(value: object, what: str) -> str:
    """``value`` (an id) as one percent-encoded path segment, so it names exactly one resource.

    :raises ConfigurationError: naming ``what``, for an empty id, ``.`` or ``..``.
    """
    try:
        return path_segment(value)
    except ValueError:
        raise ConfigurationError(
            f"{what}={value!r} cannot name a Julep resource: pass the id Julep shows."
        ) from None


def execution_path(execution_id: str, tail: str = "") -> str:
    """The path of an execution (``tail``: of one of its collections, such as ``/transitions``).

    :raises ConfigurationError: naming ``run_id``, for an id that cannot be one path segment."""
    return f"executions/{segment(execution_id, 'run_id')}{tail}"


def call(
    config: JulepConfig,
    method: str,
    path: str,
    *,
    body: Any = None,
    query: Mapping[str, Any] | None = None,
    idempotent: bool = True,
) -> Operation[Any]:
    """One REST call; returns the decoded JSON body (``None`` for a ``null`` or empty body).

    :raises UnexpectedAnswerError: for a success status whose body is not JSON (a login or proxy page).
    :raises RemoteTaskError: for an error status, as :func:`error_from_response` makes it.
    """
    url = config.url(path)
    if query:
        url += "?" + urlencode(query)
    headers = dict(JSON_HEADERS)
    content = None
    if body is not None:
        headers["Content-Type"] = "application/json"
        content = json.dumps(body, separators=(",", ":")).encode()
    response = yield HttpRequest(method, url, headers=headers, content=content, idempotent=idempotent)
    if 200 <= response.status < 300:
        # The executors' rule decides what a success body is: JSON, even labelled otherwise (UnexpectedAnswerError
        # for anything else), as for every platform.
        return response.json()
    raise error_from_response(config, method, path, response)


def list_items(
    config: JulepConfig,
    path: str,
    *,
    limit: int = PAGE_SIZE,
    offset: int = 0,
    newest_first: bool = True,
    sort_by: str = "created_at",
) -> Operation[list[dict[str, Any]]]:
    """One offset page of a list, ordered by ``sort_by`` (``created_at`` or ``updated_at``). The server ends
    every list with an empty page.

    :raises UnexpectedAnswerError: for an answer that is not a page (no ``items`` list).
    """
    query = {
        "limit": limit,
        "offset": offset,
        "sort_by": sort_by,
        "direction": "desc" if newest_first else "asc",
    }
    body = yield from call(config, "GET", path, query=query)
    items = body.get("items") if isinstance(body, dict) else None
    if not isinstance(items, list):
        raise not_an_answer(config, "GET", path, body, "a list answer without items")
    return [item for item in items if isinstance(item, dict)]


def not_an_answer(config: JulepConfig, method: str, path: str, body: Any, why: str) -> UnexpectedAnswerError:
    """The error for a success answer to ``method path`` whose JSON (``body``) is not what Julep answers there
    (``why``): another service answered."""
    sample = json.dumps(body, separators=(",", ":"), default=str)[:200]
    return UnexpectedAnswerError(
        f"{method} {config.url(path)} answered with JSON that is not a Julep API answer ({why}): {sample!r}. "
        f"{BASE_URL_HINT}"
    )


def find_item(
    config: JulepConfig, path: str, matches: Callable[[dict[str, Any]], bool], *, max_pages: int = 10
) -> Operation[dict[str, Any] | None]:
    """The newest item of a list that ``matches``, reading at most ``max_pages`` pages."""
    for number in range(max_pages):
        items = yield from list_items(config, path, offset=number * PAGE_SIZE)
        found = next((item for item in items if matches(item)), None)
        if found is not None or len(items) < PAGE_SIZE:
            return found
    return None


def detail_of(response: HttpResponse) -> str | None:
    """The server's explanation, or None when the body is not a Julep error at all."""
    if response.content_type != "application/json":
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    if "detail" in body:
        detail = body["detail"]
        if isinstance(detail, dict):
            issues = detail.get("issues")
            text = str(detail.get("message", detail))
            return f"{text}: {json.dumps(issues)}" if issues else text
        return str(detail)
    error = body.get("error")
    if isinstance(error, dict):  # 422 request validation
        details = "; ".join(
            f"{'.'.join(str(p) for p in d.get('loc', []))}: {d.get('msg', '')}"
            for d in error.get("details", [])
            if isinstance(d, dict)
        )
        return f"{error.get('message', 'error')}" + (f" ({details})" if details else "")
    return None


def error_from_response(config: JulepConfig, method: str, path: str, response: HttpResponse) -> Exception:
    """The error for an error status: the Julep error it carries, or, for an answer in someone else's words (a
    proxy's page, a route the server does not have), :func:`not_the_api`'s error: permanent, except for the
    statuses a gateway answers while the API is down or overloaded."""
    status = response.status
    detail = detail_of(response)
    where = f"{method} {config.url(path)}"
    if detail is None or (status == 404 and detail == "Not Found"):  # FastAPI's answer for no such route
        snippet = " ".join(response.text.split())[:200]
        return not_the_api(
            status,
            f"{where} answered HTTP {status}{response.tries} with {snippet!r}, which is not a Julep API "
            f"answer. {BASE_URL_HINT}",
        )
    text = f"{where} failed with HTTP {status}{response.tries}: {detail}"
    if status in (401, 403) and "free tier" not in detail:
        return AuthenticationError(
            f"{text}. The API key was refused: check the connection's API key (and the auth header name "
            "for a self-hosted server).",
            status=status,
            code="unauthenticated",
        )
    if status == 404:
        return NotFoundError(text, status=status, code="not_found")
    if status == 409:
        return AlreadyExistsError(text, status=status, code="conflict", retryable=True)
    return ApiError(text, status=status, code=str(status), retryable=status in RETRYABLE_STATUSES)
