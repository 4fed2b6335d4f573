"""Flyte credentials: OAuth2 client credentials with server discovery, or a pre-minted token.

The header name comes from the server (``authorizationMetadataKey``); it is not always ``authorization``.
"""

from __future__ import annotations

import base64
import hashlib
import time
from dataclasses import dataclass
from urllib.parse import quote_plus, urlencode, urljoin, urlsplit

import httpx

from airflow_remote_tasks.core.auth import KeptToken
from airflow_remote_tasks.core.errors import AuthenticationError, ConfigurationError, TransportError, where
from airflow_remote_tasks.core.operation import HttpRequest, Operation, origin
from airflow_remote_tasks.core.secrets import is_header_value, register_secret
from airflow_remote_tasks.platforms.flyte import connect
from airflow_remote_tasks.platforms.flyte.config import FlyteConfig

GET_OAUTH2_METADATA = "flyteidl2.auth.AuthMetadataService/GetOAuth2Metadata"
GET_PUBLIC_CLIENT_CONFIG = "flyteidl2.auth.AuthMetadataService/GetPublicClientConfig"


@dataclass(frozen=True)
class AuthMetadata:
    token_endpoint: str
    header: str
    scopes: tuple[str, ...]
    audience: str


# How long a server's auth metadata is trusted: a tenant that moves its token endpoint or header is followed
# within this time, and two small calls an hour per connection cost nothing.
DISCOVERY_TTL = 3600.0


def token_url(config: FlyteConfig, advertised: str) -> str:
    """Where the client secret is sent: the connection's Token endpoint when it names one (it overrides what
    the server advertises, as the SDK's local client config does); else the advertised ``tokenEndpoint``,
    resolved against the discovery URL, and only on the endpoint's own origin. Discovery is unauthenticated,
    so a token endpoint elsewhere is trusted only when the user names it.

    :raises AuthenticationError: the server advertises no token endpoint and the connection names none.
    :raises ConfigurationError: the advertised token endpoint is no http(s) URL, or is on another origin.
    """
    if config.token_endpoint:
        return config.token_endpoint
    if not advertised:
        raise AuthenticationError(
            f"{config.endpoint} advertises no OAuth2 token endpoint: set the connection's Token endpoint to "
            "your identity provider's token URL, or use a pre-minted token.",
            status=0,
        )
    url = urljoin(f"{config.endpoint}/{GET_OAUTH2_METADATA}", advertised.strip())
    try:
        parts = urlsplit(url)
        home = origin(url) if parts.scheme in ("http", "https") and parts.hostname else ""
    except (ValueError, httpx.InvalidURL):
        home = ""
    if not home:
        raise ConfigurationError(
            f"{config.endpoint} advertises an OAuth2 token endpoint that is no http(s) URL "
            f"({advertised[:100]!r}), so the client secret was not sent. Set the connection's Token endpoint "
            "to your identity provider's token URL."
        )
    if home != origin(config.endpoint):
        raise ConfigurationError(
            f"{config.endpoint} advertises its OAuth2 token endpoint on another origin, {home}, so the client "
            "secret was not sent there (the server's auth metadata is read unauthenticated). If that is your "
            "identity provider (a Union tenant's may be on a host of its own), set the connection's Token "
            f"endpoint to {where(url)}."
        )
    return url


class FlyteAuth:
    def __init__(self, config: FlyteConfig) -> None:
        self.config = config
        identity = f"{config.endpoint}|{config.client_id}|{config.client_secret.get_secret_value()}"
        # Names the credential (its token requests in flight are shared) without holding the secret in clear.
        self._credential = "flyte:" + hashlib.sha256(identity.encode()).hexdigest()
        # The client credentials' token, and the endpoint's auth metadata and when it expires (DISCOVERY_TTL
        # after it was read): one platform, and so one of each, serves every hook and trigger of the connection.
        self.fetched_token = KeptToken()
        self.discovered: tuple[float, AuthMetadata] | None = None

    def sign(self, request: HttpRequest) -> Operation[HttpRequest]:
        config = self.config
        if config.auth_mode == "token":
            header = config.auth_header or (yield from self._discover()).header
            return request.with_headers({header: f"Bearer {config.token.get_secret_value()}"})
        metadata = yield from self._discover()
        token = self.fetched_token.get()
        if token is None:
            token = yield from self._fetch_token(metadata)
        return request.with_headers({config.auth_header or metadata.header: f"Bearer {token}"})

    def invalidate(self) -> bool:
        self.fetched_token.drop()
        return self.config.auth_mode == "client_credentials"

    def _discover(self) -> Operation[AuthMetadata]:
        """The endpoint's auth metadata (read unauthenticated; callers on one loop share one read of each).
        Raises what the calls raise."""
        known = self.discovered
        if known is not None and known[0] > time.monotonic():
            return known[1]
        endpoint = self.config.endpoint
        oauth = yield from connect.unary(
            endpoint, GET_OAUTH2_METADATA, {}, authenticate=False, share=f"{endpoint}/{GET_OAUTH2_METADATA}"
        )
        client = yield from connect.unary(
            endpoint,
            GET_PUBLIC_CLIENT_CONFIG,
            {},
            authenticate=False,
            share=f"{endpoint}/{GET_PUBLIC_CLIENT_CONFIG}",
        )
        metadata = AuthMetadata(
            token_endpoint=str(oauth.get("tokenEndpoint", "")),
            header=str(client.get("authorizationMetadataKey") or "authorization"),
            scopes=tuple(client.get("scopes") or ()),
            audience=str(client.get("audience", "")),
        )
        self.discovered = (time.monotonic() + DISCOVERY_TTL, metadata)
        return metadata

    def _fetch_token(self, metadata: AuthMetadata) -> Operation[str]:
        config = self.config
        token_endpoint = token_url(config, metadata.token_endpoint)
        secret = quote_plus(config.client_secret.get_secret_value())
        basic = base64.b64encode(f"{config.client_id}:{secret}".encode()).decode()
        register_secret(secret)
        register_secret(basic)
        form = {"grant_type": "client_credentials"}
        scopes = config.scopes or " ".join(metadata.scopes)
        if scopes:
            form["scope"] = scopes
        if metadata.audience:
            form["audience"] = metadata.audience
        response = yield HttpRequest(
            "POST",
            token_endpoint,
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "application/json",
                "Authorization": f"Basic {basic}",
            },
            content=urlencode(form).encode(),
            authenticate=False,
            share=self._credential,  # one token request in flight per credential, whoever else needs one
        )
        if response.status in (400, 401, 403):
            raise AuthenticationError(
                f"The token endpoint refused client {config.client_id!r} (HTTP {response.status}). "
                "Check the connection's API key or client id and secret.",
                status=response.status,
                code="unauthenticated",
            )
        try:
            body = response.json()
            token = str(body["access_token"]).strip()
        except (ValueError, KeyError, TypeError):
            raise TransportError(
                f"The token endpoint {where(token_endpoint)} answered HTTP {response.status} without an "
                "access_token."
            ) from None
        register_secret(token)
        if not is_header_value(token):
            raise AuthenticationError(
                f"The token endpoint {where(token_endpoint)} issued an access token that cannot be sent in "
                "an HTTP header (it holds a line break or a control character).",
                status=response.status,
                code="invalid_token",
            )
        self.fetched_token.keep(token, float(body.get("expires_in") or 3600))
        return token
