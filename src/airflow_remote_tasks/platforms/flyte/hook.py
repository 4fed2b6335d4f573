"""Flyte 2 / Union connections."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import SecretStr

from airflow_remote_tasks.core.errors import ConfigurationError
from airflow_remote_tasks.hooks.base import RemoteTaskHook
from airflow_remote_tasks.hooks.connection import ConnectionView, with_port
from airflow_remote_tasks.platforms.flyte import PLATFORM
from airflow_remote_tasks.platforms.flyte.config import (
    FlyteConfig,
    decode_api_key,
    normalize_endpoint,
    org_from_host,
)
from airflow_remote_tasks.platforms.flyte.platform import FlytePlatform


class FlyteHook(RemoteTaskHook):
    """Talks to a Flyte 2 control plane (Union or open-source Flyte) over Connect."""

    declaration = PLATFORM

    @classmethod
    def platform_from_connection(cls, conn: ConnectionView) -> FlytePlatform:
        return FlytePlatform(
            flyte_config(conn),
            upload_inputs=conn.flag("upload_inputs"),
            client_settings=conn.client_settings(),
        )


def flyte_config(conn: ConnectionView) -> FlyteConfig:
    host = with_port((conn.host or "").strip(), conn.port)
    insecure = conn.flag("insecure")
    api_key = conn.key()
    token = conn.credential("Access token", conn.field("access_token"))
    client_id = str(conn.login or conn.field("client_id") or "").strip()  # a name, not a secret
    client_secret = conn.credential("Client secret", conn.field("client_secret"))
    org = conn.field("org") or ""
    if api_key and not token:
        key_endpoint, client_id, client_secret, key_org = decode_api_key(api_key)
        client_secret = conn.credential("API key", client_secret)  # the secret inside the key: mask it too
        host = host or key_endpoint
        org = org or key_org
    if not host:
        raise ConfigurationError(
            f"Flyte connection {conn.conn_id!r} has no endpoint: set Host (e.g. "
            "https://<tenant>.hosted.unionai.cloud) or an API key."
        )
    endpoint = normalize_endpoint(host, insecure)
    if token:
        mode = "token"
    elif client_id and client_secret:
        mode = "client_credentials"
    elif client_id or client_secret:
        raise ConfigurationError(
            f"Flyte connection {conn.conn_id!r} has a client id or a client secret but not both; set both, "
            "or use an API key."
        )
    else:
        mode = "none"
    return FlyteConfig(
        endpoint=endpoint,
        org=org or org_from_host(endpoint),
        project=conn.field("project"),
        domain=conn.field("domain"),
        auth_mode=mode,
        client_id=client_id,
        client_secret=SecretStr(client_secret),
        token=SecretStr(token),
        auth_header=conn.text("auth_header"),
        scopes=conn.field("scopes") or "",
        console_url=(conn.field("console_url") or "").rstrip("/"),
        data_plane_url=data_plane_url(conn, endpoint, insecure),
        token_endpoint=token_endpoint(conn, endpoint),
    )


def data_plane_url(conn: ConnectionView, endpoint: str, insecure: bool) -> str:
    """The connection's Data plane URL as ``scheme://host[:port]``, or "" when it has none.

    :raises ConfigurationError: for a value that is no http(s) address, or plain http:// while the endpoint is
        https:// (the credentials would travel unencrypted).
    """
    text = conn.text("data_plane_url")
    if not text:
        return ""
    return _kept_on_tls(conn, "Data plane URL", normalize_endpoint(text, insecure), endpoint)


def token_endpoint(conn: ConnectionView, endpoint: str) -> str:
    """The connection's Token endpoint (a whole URL: the client secret is posted there), or "" when it has none.

    :raises ConfigurationError: for a value that is no http(s) URL, or plain http:// while the endpoint is https://.
    """
    text = conn.text("token_endpoint")
    if not text:
        return ""
    try:
        parts = urlsplit(text)
        usable = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        usable = False
    if not usable:
        raise ConfigurationError(
            f"Flyte connection {conn.conn_id!r} has Token endpoint {text[:100]!r}, which is no http(s) URL. Set "
            "it to the whole token URL, e.g. https://<idp-host>/oauth2/<server>/v1/token, or leave it empty."
        )
    return _kept_on_tls(conn, "Token endpoint", text, endpoint)


def _kept_on_tls(conn: ConnectionView, field: str, url: str, endpoint: str) -> str:
    """``url``; :raises ConfigurationError: when it is plain http:// while the endpoint is https://."""
    if endpoint.startswith("https://") and url.startswith("http://"):
        raise ConfigurationError(
            f"Flyte connection {conn.conn_id!r} has {field} {url}, plain http:// while the endpoint is "
            f"https://: the credentials would travel unencrypted there. Use its https:// address."
        )
    return url
