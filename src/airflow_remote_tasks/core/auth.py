"""Credentials applied to an operation's requests, written once as an operation wrapper.

An :class:`Auth` may itself need calls (token discovery, a token POST); it yields them like any
operation, so one implementation serves the worker and the triggerer. Tokens are cached per process
and shared by every hook and trigger that uses the same credentials.
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


class TokenCache:
    """Tokens by credential key, shared across hooks and triggers of one process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[str, tuple[str, float]] = {}

    def get(self, key: str) -> str | None:
        with self._lock:
            entry = self._tokens.get(key)
        if entry and entry[1] > time.monotonic():
            return entry[0]
        return None

    def put(self, key: str, token: str, expires_in: float) -> None:
        """Keep ``token`` for ``key``; tokens that have expired are dropped now, so credentials no longer used
        (a rotated secret, an edited connection) do not stay."""
        # Renew a little early so a token never expires between signing and arrival.
        lifetime = max(expires_in - min(60.0, expires_in / 10), 1.0)
        now = time.monotonic()
        with self._lock:
            for expired in [k for k, (_, until) in self._tokens.items() if until <= now]:
                del self._tokens[expired]
            self._tokens[key] = (token, now + lifetime)

    def drop(self, key: str) -> None:
        with self._lock:
            self._tokens.pop(key, None)


TOKENS = TokenCache()


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


def _signed_exchange(request: HttpRequest, *, auth: Auth, home: str) -> Operation[HttpResponse]:
    if not request.authenticate or origin(request.url) != home:
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
