"""Errors raised by the provider. Each message says what went wrong and what to do about it."""

from __future__ import annotations

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


class RemoteTaskError(AirflowException):
    """Base class of every error this provider raises. Messages are clipped to a few KB."""

    def __init__(self, message: str = "") -> None:
        super().__init__(clip(str(message), 2 * MAX_REMOTE_TEXT))


class PermanentError(RemoteTaskError, AirflowFailException):
    """Asking again cannot help: the task fails without Airflow's retries."""


class ConfigurationError(PermanentError):
    """The connection or the operator's arguments cannot work as given."""


class InvalidInputsError(PermanentError):
    """The inputs do not match the remote task's interface. Nothing was submitted."""


class TransportError(RemoteTaskError):
    """The platform could not be reached, or answered with something that is not its API."""


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
