"""Error answers in someone else's words (a gateway's, a proxy's, a web framework's default page), not the
platform's: which of them asking again can change."""

from __future__ import annotations

from airflow_remote_tasks.core.errors import TransportError, UnexpectedAnswerError
from airflow_remote_tasks.core.operation import HttpResponse

# A gateway, load balancer or rate limiter answers these in its own words while the API behind it is down,
# overloaded or limiting: a later try may reach the API. A 500 too: a web framework answers an unhandled error
# with its own default page (Django's HTML 500), not the API's error shape, and the next try may well succeed.
# Any other status in someone else's words (an HTML 404 or 403, another service's JSON) comes from a wrong
# endpoint, and asking again gets the same answer.
PASSING_STATUSES = frozenset({429, 500, 502, 503, 504})


def not_the_api(status: int, message: str) -> TransportError | UnexpectedAnswerError:
    """The error for an error status (``status``) whose body is not the platform's error shape; ``message``
    says which endpoint answered and what to check.

    :returns: a :class:`TransportError` (transient: waits tolerate it, Airflow retries it) for
        :data:`PASSING_STATUSES`; otherwise an :class:`UnexpectedAnswerError` (permanent: no retries).
    """
    return TransportError(message) if status in PASSING_STATUSES else UnexpectedAnswerError(message)


def not_its_answer(
    url: str, response: HttpResponse, expected: str, hint: str = ""
) -> TransportError | UnexpectedAnswerError:
    """The error for ``response`` (any status) to a request to ``url`` whose body is not ``expected`` (what the
    platform answers with that status), in :meth:`UnexpectedAnswerError.of`'s words (the URL without its query,
    the content type, the body's first bytes) and then ``hint`` (where the platform's API is).

    :returns: as :func:`not_the_api`: a :class:`TransportError` for :data:`PASSING_STATUSES`, otherwise (a
        success status too) an :class:`UnexpectedAnswerError`.
    """
    text = str(UnexpectedAnswerError.of(response.url or url, response, expected))
    return not_the_api(response.status, f"{text} {hint}" if hint else text)
