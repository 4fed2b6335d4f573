"""Small pieces of Avala's wire: API paths built from ids, and what the rate-limit headers say."""

from __future__ import annotations

import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime

from airflow_remote_tasks.core.errors import ConfigurationError
from airflow_remote_tasks.core.operation import path_segment

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
