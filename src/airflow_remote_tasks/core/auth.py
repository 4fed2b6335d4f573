"""Credentials applied to an operation's requests, written once as an operation wrapper.

An :class:`Auth` may itself need calls (token discovery, a token POST); it yields them like any
operation, so one implementation serves the worker and the triggerer. A token is kept by the object that
holds the credentials (:class:`KeptToken`), shared by every hook and trigger of its connection.
"""

from __future__ import annotations

import threading
import time
from functools import partial
from typing import Protocol, TypeVar

from airflow_remote_tasks.core.errors import ConfigurationError, where
from airflow_remote_tasks.core.operation import (
    HttpRequest,
    HttpResponse,
    Operation,
    origin,
    relayed,
    returns,
)

T = TypeVar("T")


class Auth(Protocol):
    def sign(self, request: HttpRequest) -> Operation[HttpRequest]:
        """Return the request with credentials added, fetching a token first if needed."""
        ...

    def invalidate(self) -> bool:
        """Forget a cached token after a 401. True when a fresh token may fix it (then the call is retried once)."""
        ...


class KeptToken:
    """One credential's access token until it is due for renewal: state of the object that holds the
    credentials. One platform object serves every hook and trigger of its connection in the process, so they
    share one token. One eviction rule: an expired token is dropped when the next is kept."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # workers' threads and the triggerer's loop may sign at once
        self._token: tuple[str, float] | None = None  # the token and when it is due for renewal

    def get(self) -> str | None:
        """The token, or None when there is none or it is due for renewal."""
        with self._lock:
            kept = self._token
        return kept[0] if kept is not None and kept[1] > time.monotonic() else None

    def keep(self, token: str, expires_in: float) -> None:
        """Keep ``token`` (in place of the one before) until a little before it expires."""
        # Renew a little early so a token never expires between signing and arrival.
        lifetime = max(expires_in - min(60.0, expires_in / 10), 1.0)
        with self._lock:
            self._token = (token, time.monotonic() + lifetime)

    def drop(self) -> None:
        with self._lock:
            self._token = None


def authorized(operation: Operation[T], auth: Auth | None, api_origin: str) -> Operation[T]:
    """Run ``operation`` with credentials; on a 401, refresh the token and send the call once more.

    Credentials go only to ``api_origin`` (the API's scheme, host and port): a URL the server hands back (a
    next page, a file) that names another origin, or plain http:// where the API is https://, is sent
    without them. (Redirects of downloads are held to the same rule by the executors.)

    :raises ConfigurationError: when the credentials' own calls (a token request) would go over plain http://
        while the API is https://.
    """
    if auth is None:
        return (yield from operation)
    return (yield from relayed(operation, partial(_signed_exchange, auth=auth, home=origin(api_origin))))


def on_origin(url: str, home: str) -> bool:
    """Whether ``url`` is on the origin ``home`` (as :func:`origin` writes it). A URL that begins with ``home``
    and then its path is, without parsing it (each call of every poll asks); any other is parsed."""
    return (url.startswith(home) and url[len(home) : len(home) + 1] == "/") or origin(url) == home


def _signed_exchange(request: HttpRequest, *, auth: Auth, home: str) -> Operation[HttpResponse]:
    if not request.authenticate or not on_origin(request.url, home):
        return (yield request)
    signing = partial(_kept_on_tls, home=home)  # the auth's own calls carry a secret too
    response: HttpResponse = yield (yield from relayed(auth.sign(request), signing))
    if response.status == 401 and auth.invalidate():
        response = yield (yield from relayed(auth.sign(request), signing))
    return response


def _kept_on_tls(request: HttpRequest, *, home: str) -> Operation[HttpResponse]:
    if home.startswith("https://") and origin(request.url).startswith("http://"):
        raise ConfigurationError(
            f"The credentials' call to {where(request.url)} would go over plain http:// while the API at {home} "
            "is https://, so it was not sent. The server advertises that address: have it advertise https://, "
            "or use a pre-minted token."
        )
    return (yield request)


class HeaderAuth:
    """A fixed credential in one header (an API key). A 401 cannot be fixed by asking again."""

    def __init__(self, header: str, value: str) -> None:
        self._header = header
        self._value = value

    def sign(self, request: HttpRequest) -> Operation[HttpRequest]:
        return returns(request.with_headers({self._header: self._value}))

    def invalidate(self) -> bool:
        return False

    def __repr__(self) -> str:
        return f"HeaderAuth({self._header!r}, '***')"
