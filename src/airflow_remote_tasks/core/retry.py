"""Which failures are retried, and how long to wait: one policy for both executors."""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import tenacity

from airflow_remote_tasks.core.operation import HttpRequest, HttpResponse
from airflow_remote_tasks.core.secrets import redact_headers

log = logging.getLogger(__name__)

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
# Errors where the request never left this machine: safe to resend even for a call that starts a run.
UNSENT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
TRANSIENT_ERRORS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


class RetryableStatus(Exception):
    """Raised inside the retry loop for a response worth another try."""

    def __init__(self, response: HttpResponse) -> None:
        super().__init__(f"HTTP {response.status}{_graphql_errors(response)}")
        self.response = response


def _graphql_errors(response: HttpResponse) -> str:
    """A GraphQL answer's errors (``code: message``), which arrive inside HTTP 200: the status alone says
    nothing of why it is retried."""
    try:
        errors = response.json().get("errors") or []
        described = [f"{e['extensions']['code']}: {e.get('message')}" for e in errors]
    except (ValueError, AttributeError, TypeError, KeyError):
        return ""  # not a GraphQL answer, or errors without codes: the status is all there is to say
    return ": " + "; ".join(described) if described else ""


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    initial_backoff: float = 0.5
    max_backoff: float = 15.0
    max_retry_after: float = 60.0

    def should_retry(self, request: HttpRequest, error: BaseException) -> bool:
        if untrusted_certificate(error) is not None:
            return False  # asking again gets the same certificate
        if isinstance(error, UNSENT_ERRORS):
            return True
        if isinstance(error, RetryableStatus) and error.response.status == 429:
            return True  # refused before anything was done
        if not request.idempotent:
            return False
        return isinstance(error, (RetryableStatus, *TRANSIENT_ERRORS))

    def wait(self, state: tenacity.RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, RetryableStatus):
            hinted = retry_after_seconds(error.response)
            if hinted is not None:
                return min(hinted, self.max_retry_after)
        jitter = tenacity.wait_random_exponential(multiplier=self.initial_backoff, max=self.max_backoff)
        return float(jitter(state))

    def longest_backoff(self) -> float:
        """The most this policy sleeps between the tries of one call, Retry-After hints aside."""
        return float(
            sum(min(self.max_backoff, self.initial_backoff * 2.0**n) for n in range(self.attempts - 1))
        )

    def longest_try(self, read_timeout: float, *, idempotent: bool = True) -> float:
        """The longest one call can take before it fails when the server accepts it and never answers:
        every try waits ``read_timeout``, and the backoff between them. A call that is not safe to repeat is
        sent once. (A server that trickles a byte within each ``read_timeout`` is not bounded by this.)"""
        if not idempotent:
            return read_timeout
        return self.attempts * read_timeout + self.longest_backoff()

    def tenacity_arguments(self, request: HttpRequest) -> dict[str, Any]:
        """Arguments for ``tenacity.Retrying`` / ``AsyncRetrying`` around sending ``request`` once."""
        return {
            "stop": tenacity.stop_after_attempt(self.attempts),
            "wait": self.wait,
            "retry": tenacity.retry_if_exception(lambda error: self.should_retry(request, error)),
            "before_sleep": _log_retry(request),
            "retry_error_callback": _last_outcome,
            "reraise": True,
        }


DEFAULT_POLICY = RetryPolicy()
# A wait's status reads: the wait retries them itself, within its transient-error budget, so one read only
# gets a quick second try. Five tries with backoff would let a read outlast a short budget by many seconds.
WAIT_READS = RetryPolicy(attempts=2, initial_backoff=0.25, max_backoff=2.0, max_retry_after=10.0)


def untrusted_certificate(error: BaseException) -> ssl.SSLCertVerificationError | None:
    """The certificate verification failure behind a transport error, if that is what it is."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def check_status(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    """Turn a retryable answer into an exception for tenacity; a call that is unsafe to repeat keeps it,
    except a 429: a rate-limited call was refused before anything was done, so asking again is safe."""
    if response.status == 429:
        raise RetryableStatus(response)
    if request.idempotent and (
        response.status in RETRYABLE_STATUSES
        or (request.retry_answer is not None and request.retry_answer(response))
    ):
        raise RetryableStatus(response)
    return response


def retry_after_seconds(response: HttpResponse) -> float | None:
    value = next((v for k, v in response.headers.items() if k.lower() == "retry-after"), None)
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max((when - datetime.now(timezone.utc)).total_seconds(), 0.0)


def _last_outcome(state: tenacity.RetryCallState) -> HttpResponse:
    """When retries run out on an error status, hand the response to the operation to explain."""
    assert state.outcome is not None
    error = state.outcome.exception()
    if isinstance(error, RetryableStatus):
        return error.response
    return state.outcome.result()  # type: ignore[no-any-return]  # re-raises a transport error


def _log_retry(request: HttpRequest) -> Any:
    def before_sleep(state: tenacity.RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        delay = state.next_action.sleep if state.next_action else 0.0
        log.warning(
            "%s %s failed (%s); try %d, retrying in %.1fs",
            request.method,
            _path(request.url),
            redact_headers(str(error), request.headers),
            state.attempt_number,
            delay,
        )

    return before_sleep


def _path(url: str) -> str:
    return httpx.URL(url).path
