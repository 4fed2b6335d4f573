"""A Flyte connection's settings: endpoint, scope, credentials, and the URLs derived from them."""

from __future__ import annotations

import base64
import binascii
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, SecretStr

from airflow_remote_tasks.core.errors import ConfigurationError
from airflow_remote_tasks.core.operation import path_segment
from airflow_remote_tasks.platforms.flyte import PLATFORM

AuthMode = Literal["none", "client_credentials", "token"]


class FlyteConfig(BaseModel):
    endpoint: str
    org: str = ""
    project: str = PLATFORM.default("project")
    domain: str = PLATFORM.default("domain")
    auth_mode: AuthMode = "none"
    client_id: str = ""
    client_secret: SecretStr = SecretStr("")
    token: SecretStr = SecretStr("")
    # Header name for a pre-minted token when discovery is not wanted; empty means "ask the server".
    auth_header: str = ""
    scopes: str = ""
    console_url: str = ""
    # A second origin the credentials may go to: the data plane SelectCluster names, when not the endpoint's
    # own (whether a split data plane takes the control plane's token is not documented: the user says so).
    data_plane_url: str = ""
    # Where the client secret goes instead of the advertised token endpoint: an identity provider on another
    # origin than the endpoint's must be named by the user (the server's auth metadata is unauthenticated).
    token_endpoint: str = ""

    @property
    def insecure(self) -> bool:
        return self.endpoint.startswith("http://")

    @property
    def console(self) -> str:
        return (self.console_url or self.endpoint).rstrip("/")

    def run_url(self, project: str, domain: str, name: str) -> str:
        """The run's console page; each part is one percent-encoded path segment, so no name leaves its place.

        :raises ConfigurationError: for an empty part, ``.`` or ``..``.
        """
        parts = {"domain": domain, "project": project, "run name": name}
        try:
            domain, project, name = (path_segment(value) for value in parts.values())
        except ValueError:
            raise ConfigurationError(
                f"A Flyte run link needs a domain, project and run name, each a name of its own; got {parts}."
            ) from None
        return f"{self.console}/v2/domain/{domain}/project/{project}/runs/{name}"


def normalize_endpoint(endpoint: str, insecure: bool = False) -> str:
    """``dns:///host:port``, ``host:port`` or a URL, as ``scheme://host[:port]`` with no path."""
    text = endpoint.strip().rstrip("/")
    if not text:
        raise ConfigurationError(
            "The Flyte connection has no endpoint. Set Host to the control plane URL, e.g. "
            "https://<tenant>.hosted.unionai.cloud, or put an API key in the connection."
        )
    if text.startswith("dns:///"):
        text = text[len("dns:///") :]
    if "://" not in text:
        text = f"{'http' if insecure else 'https'}://{text}"
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(f"Flyte endpoint {endpoint!r} is not an http(s) URL or host[:port].")
    return f"{parts.scheme}://{parts.netloc}"


def decode_api_key(api_key: str) -> tuple[str, str, str, str]:
    """(endpoint, client_id, client_secret, org) from ``base64(endpoint:client_id:client_secret:org)``.

    Split from the right: the endpoint may itself contain ':' (a port or a scheme).
    """
    try:
        text = base64.b64decode(api_key.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise ConfigurationError(
            "The Flyte API key is not valid base64. Paste the key exactly as Union printed it "
            "(it encodes endpoint:client_id:client_secret:org)."
        ) from None
    parts = text.rsplit(":", 3)
    if len(parts) != 4 or not all(parts[:3]):
        raise ConfigurationError(
            "The Flyte API key does not hold endpoint:client_id:client_secret:org. Create a new key with "
            "'flyte create api-key' or use client id and secret fields instead."
        )
    endpoint, client_id, client_secret, org = parts
    return endpoint, client_id, client_secret, "" if org == "None" else org


def org_from_host(endpoint: str) -> str:
    """The first DNS label when the host has more than two (acme.hosted.unionai.cloud -> acme)."""
    host = urlsplit(endpoint).hostname or ""
    labels = host.split(".")
    if len(labels) > 2 and not host.replace(".", "").isdigit():
        return labels[0]
    return ""
