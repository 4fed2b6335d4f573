"""Errors raised by the provider. Each message says what went wrong and what to do about it."""

from __future__ import annotations

from airflow.sdk.exceptions import AirflowException


class RemoteTaskError(AirflowException):
    """Base class of every error this provider raises."""


class ConfigurationError(RemoteTaskError):
    """The connection or the operator's arguments cannot work as given."""


class InvalidInputsError(RemoteTaskError):
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


class AuthenticationError(ApiError):
    """The credentials were refused (401/403)."""


class NotFoundError(ApiError):
    """The task, run or project does not exist on the platform."""


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


def is_transient(error: BaseException) -> bool:
    """Worth asking again later: the platform was unreachable, overloaded or rate-limited."""
    return isinstance(error, TransportError) or (isinstance(error, ApiError) and error.retryable)
