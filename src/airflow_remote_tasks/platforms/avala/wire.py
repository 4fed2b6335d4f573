"""Small pieces of Avala's wire: API paths built from ids, what the rate-limit headers say, and error answers."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from airflow_remote_tasks.core.errors import (
    ApiError,
    AuthenticationError,
    ConfigurationError,
    InvalidInputsError,
    NotFoundError,
)
from airflow_remote_tasks.core.foreign import not_its_answer
from airflow_remote_tasks.core.operation import HttpResponse, path_segment

# X-RateLimit-Reset's unit is not documented: seconds until the window resets, or when it resets (epoch
# seconds). No window is longer than a day, so a larger value is a time.
RESET_IS_A_TIME_ABOVE = 86_400
DEFAULT_RESET = 60.0  # seconds, when a limited answer does not say


def api_path(*segments: str) -> str:
    """An API path of percent-encoded segments: an id with ``/`` or ``..`` in it names no other object.

    :raises ConfigurationError: a segment is empty, ``.`` or ``..``.
    """
    try:
        return "/".join(path_segment(segment) for segment in segments)
    except ValueError:
        raise ConfigurationError(
            f"{'/'.join(segments)!r} does not name an Avala object: one of its ids is empty, '.' or '..'."
        ) from None


def rate_limit_delay(headers: Mapping[str, str]) -> float | None:
    """Seconds to add between polls so that the requests left last until the window resets: 0 while more
    than a tenth of the limit is left; None when the answer has no (readable) rate-limit headers."""
    lower = {k.lower(): v for k, v in headers.items()}
    try:
        limit = int(lower["x-ratelimit-limit"])
        remaining = int(lower["x-ratelimit-remaining"])
        reset = float(lower.get("x-ratelimit-reset") or DEFAULT_RESET)
    except (KeyError, ValueError):
        return None
    if reset > RESET_IS_A_TIME_ABOVE:
        reset = max(reset - _server_time(lower), 0.0)
    return reset / max(remaining, 1) if limit and remaining < limit / 10 else 0.0


def _server_time(headers: Mapping[str, str]) -> float:
    """Now, by the server's ``Date`` when it sent one (a reset time is on the server's clock), else by ours."""
    try:
        return parsedate_to_datetime(headers["date"]).timestamp()
    except (KeyError, TypeError, ValueError):
        return time.time()


BASE_URL_HINT = "Avala's base URL is https://api.avala.ai/api/v1."


def _drf_detail(body: Any) -> bool:
    return isinstance(body, dict) and isinstance(body.get("detail"), str)


# How Avala (Django REST Framework) words an error, by status, and that in words for the error when an answer is
# not so: anything else is another service's page or JSON (a proxy, a portal, a wrong base URL).
ERRORS: dict[int, tuple[Callable[[Any], bool], str]] = {
    # A validation error: {field: [messages]}, or a list of messages.
    400: (lambda body: isinstance(body, dict | list), "an Avala error (a JSON object or list)"),
    401: (_drf_detail, "an Avala error (a JSON object with a 'detail' message)"),
    403: (_drf_detail, "an Avala error (a JSON object with a 'detail' message)"),
    # DRF says "Not found." (or names what is missing); "Not Found" is FastAPI's and Starlette's "no such path".
    404: (
        lambda body: _drf_detail(body) and body["detail"] != "Not Found",
        "an Avala error (a JSON object with a 'detail' message; {'detail': 'Not Found'} is how a FastAPI or "
        "Starlette server says it serves no such path)",
    ),
}
OTHER_ERRORS: tuple[Callable[[Any], bool], str] = (
    lambda body: isinstance(body, dict),
    "an Avala error (a JSON object)",
)


def error_from_response(method: str, url: str, response: HttpResponse) -> Exception:
    """The error for an error status: the Avala error it carries, or, for an answer in someone else's words
    (:data:`ERRORS`), :func:`not_its_answer`'s: permanent, except for the statuses a gateway answers while the
    API is down or overloaded."""
    try:
        body = response.json()
    except ValueError:
        body = None
    fits, expected = ERRORS.get(response.status, OTHER_ERRORS)
    if not fits(body):
        return not_its_answer(url, response, expected, f"{BASE_URL_HINT} The request was a {method}.")
    path = httpx.URL(url).path
    detail = body["detail"] if _drf_detail(body) else json.dumps(body)
    text = f"{method} {path} failed with HTTP {response.status}{response.tries}: {detail}"
    if response.status == 401:
        return AuthenticationError(
            f"{text}. The API key was refused: check the connection's API key.", status=401
        )
    if response.status == 403:
        return AuthenticationError(
            f"{text}. The API key may not do this.", status=403, code="permission_denied"
        )
    if response.status == 404:
        return NotFoundError(text, status=404, code="not_found")
    if response.status in (400, 422):
        return InvalidInputsError(f"{text}. Nothing was started.")
    return ApiError(text, status=response.status, retryable=response.status == 429 or response.status >= 500)
