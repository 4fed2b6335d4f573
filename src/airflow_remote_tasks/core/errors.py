"""Errors raised by the provider. Each message says what went wrong and what to do about it."""

from __future__ import annotations

from typing import Any

import httpx
from airflow.sdk.exceptions import AirflowException, AirflowFailException

# Text from a remote platform (error messages, error pages) is kept to this many bytes in an exception: a
# 5 MB error would otherwise be written to the task log, the trigger event and the metadata database.
MAX_REMOTE_TEXT = 4096


def clip(text: str, limit: int = MAX_REMOTE_TEXT) -> str:
    """``text`` cut to about ``limit`` bytes of UTF-8, saying how much was left out."""
    data = text.encode("utf-8", errors="replace")
    if len(data) <= limit:
        return text
    kept = data[:limit].decode("utf-8", errors="ignore")
    return f"{kept}... ({len(data) - len(kept.encode())} bytes more)"


def where(url: str) -> str:
    """``url`` without its query and fragment (which may hold a signature or a token), for messages."""
    return str(httpx.URL(url).copy_with(query=None, fragment=None))


class RemoteTaskError(AirflowException):
    """Base class of every error this provider raises. Messages are clipped to a few KB.

    The executor that ran the failing operation notes on it what it saw: ``answer_lost``, whether a request of
    that operation that starts or changes a run (``HttpRequest.starts_run``) may have reached the server while
    no answer to it came back (so a run may have started); ``endpoint``, the method and URL (without query) of the operation's last request.
    """

    answer_lost: bool = False
    endpoint: str = ""

    def __init__(self, message: str = "") -> None:
        super().__init__(clip(str(message), 2 * MAX_REMOTE_TEXT))

    def amend(self, sentence: str) -> None:
        """Add ``sentence`` to the message (context the raiser did not have, such as the connection id)."""
        text = str(self).rstrip()
        text += "" if text.endswith((".", "!", "?", ")")) else "."
        self.args = (clip(f"{text} {sentence}", 2 * MAX_REMOTE_TEXT), *self.args[1:])


class PermanentError(RemoteTaskError, AirflowFailException):
    """Asking again cannot help: the task fails without Airflow's retries."""


class ConfigurationError(PermanentError):
    """The connection or the operator's arguments cannot work as given."""


class InvalidInputsError(PermanentError):
    """The inputs do not match the remote task's interface. Nothing was submitted."""


class TransportError(RemoteTaskError):
    """The platform could not be reached, or answered with something that is not its API."""


# Of a body that is not the API's JSON, this much is quoted: enough to recognise a login page or a proxy's.
ANSWER_SAMPLE = 160


class UnexpectedAnswerError(PermanentError, ValueError):
    """A success status (2xx) whose body is not the platform's JSON: an HTML login page, a proxy's or a portal's
    page. Asking again gets the same page, so Airflow does not retry. A ``ValueError`` as well, so code that
    decodes an error answer and falls back on its text keeps doing so."""

    @classmethod
    def of(cls, url: str, response: Any, expected: str = "the API's JSON") -> UnexpectedAnswerError:
        """The error for ``response`` (an :class:`~airflow_remote_tasks.core.operation.HttpResponse`) to a
        request to ``url``, which is not ``expected``: names the URL without its query, the content type and the
        body's first bytes."""
        content_type = response.content_type or "no content type"
        text = " ".join(response.content[: ANSWER_SAMPLE * 4].decode("utf-8", "replace").split())
        sample = repr(text[:ANSWER_SAMPLE]) + (
            f" (first {ANSWER_SAMPLE} characters)" if len(text) > ANSWER_SAMPLE else ""
        )
        return cls(
            f"{where(url or response.url)} answered HTTP {response.status}{response.tries} with {content_type}, which is not "
            f"{expected}: {sample if text else 'an empty body'}. Check the connection's endpoint: it must be the API's own address, not "
            "a web page, a login page or a proxy in front of it."
        )


class ApiError(RemoteTaskError):
    """The platform's API answered with an error."""

    def __init__(self, message: str, *, status: int, code: str = "", retryable: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.retryable = retryable


class AuthenticationError(ApiError, AirflowFailException):
    """The credentials were refused (401/403). Fails the task without Airflow's retries."""


class NotFoundError(ApiError, AirflowFailException):
    """The task, run or project does not exist on the platform. Fails the task without Airflow's retries."""


class RefusedError(ApiError, AirflowFailException):
    """The platform refused the call itself (one it cannot parse or validate, or a value of the wrong shape),
    not the work: asking again sends the same call. Fails the task without Airflow's retries."""


class AlreadyExistsError(ApiError):
    """A run with this name exists already (used to attach to it)."""


class RemoteRunError(RemoteTaskError):
    """The remote run ended in failure, was aborted or timed out."""

    def __init__(self, message: str, *, phase: str, kind: str = "", url: str = "") -> None:
        super().__init__(message)
        self.phase = phase
        self.kind = kind
        self.url = url


class OutputsTooLargeError(RemoteTaskError):
    """The run's outputs are bigger than the operator's XCom size guard."""


def is_permanent(error: BaseException) -> bool:
    """Airflow's retries cannot help: a configuration error, invalid inputs, refused credentials, unknown
    task or run."""
    return isinstance(error, AirflowFailException)


def is_transient(error: BaseException) -> bool:
    """Worth asking again later: the platform was unreachable, overloaded or rate-limited."""
    return isinstance(error, TransportError) or (isinstance(error, ApiError) and error.retryable)
