"""Pieces of Airflow's declarative connection forms, and the transport fields every connection type has."""

from __future__ import annotations

from typing import Any

SECRET = {"type": ["string", "null"], "format": "password"}
TEXT = {"type": ["string", "null"]}

# Every connection type has these; hooks.base.client_settings reads them.
TRANSPORT_FIELDS: dict[str, Any] = {
    "verify_tls": {
        "label": "Verify TLS certificates",
        "schema": {"type": "boolean", "default": True},
    },
    "ca_bundle": {
        "label": "CA bundle",
        "description": "Path to a PEM file of CAs to trust instead of the system's (a private CA), "
        "readable on every worker and triggerer.",
        "schema": TEXT,
    },
    "proxy": {
        "label": "Proxy URL",
        "description": "http://[user:password@]host:port for every call of this connection. Empty: the "
        "HTTPS_PROXY / HTTP_PROXY / NO_PROXY environment of the worker and triggerer.",
        "schema": SECRET,
    },
    "read_timeout": {
        "label": "Read timeout",
        "description": "Seconds to wait for the server's next bytes before a call fails (then it is tried "
        "again where that is safe). Default 30.",
        "schema": {"type": ["number", "null"], "default": 30, "minimum": 0.1},
    },
    "http2": {
        "label": "HTTP/2",
        "description": "Negotiate HTTP/2 over TLS. Needs the provider's [http2] extra.",
        "schema": {"type": "boolean", "default": False},
    },
}
