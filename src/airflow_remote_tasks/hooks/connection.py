"""An Airflow connection as a platform's declaration reads it: declared fields, defaults, secrets, the base URL."""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from airflow_remote_tasks.core.declaration import PlatformDeclaration
from airflow_remote_tasks.core.errors import ConfigurationError
from airflow_remote_tasks.core.secrets import is_header_value, register_secret
from airflow_remote_tasks.core.transport import DEFAULT_READ_TIMEOUT, ClientSettings


class ConnectionView:
    """An Airflow connection with its extra parsed once (``extra_dejson`` parses and masks it on every use), read
    through its platform's declaration."""

    def __init__(self, conn: Any, declaration: PlatformDeclaration) -> None:
        self.declaration = declaration
        self.conn_id: str = conn.conn_id
        self.conn_type: str = conn.conn_type
        self.host: str | None = conn.host
        self.port: int | None = conn.port
        self.login: str | None = conn.login
        self.password: str | None = conn.password
        self.extra: dict[str, Any] = conn.extra_dejson or {}

    def field(self, name: str) -> Any:
        """A declared field, stored in extra under its plain name (or the legacy prefixed one); its declared
        default when empty.

        :raises LookupError: for a name the declaration does not declare (a programming error).
        """
        default = self.declaration.default(name)
        for key in (name, f"extra__{self.conn_type}__{name}"):
            value = self.extra.get(key)
            if value not in (None, ""):
                return value
        return default

    def text(self, name: str) -> str:
        """A declared field as text, stripped ("" when empty and without a default). Raises as :meth:`field`."""
        return str(self.field(name) or "").strip()

    def flag(self, name: str) -> bool:
        """A declared yes/no field ("true", "1", "yes", "on" or a JSON true). Raises as :meth:`field`."""
        return as_bool(self.field(name), bool(self.declaration.default(name)))

    def credential(self, label: str, value: Any) -> str:
        """A secret from this connection, stripped of the whitespace a paste or a secret file leaves around
        it, registered with the secrets masker, and checked to fit in an HTTP header.

        :raises ConfigurationError: naming the field (never the value) when it holds a line break or
            another character no header can carry.
        """
        raw = str(value or "")
        text = raw.strip()
        register_secret(raw)
        register_secret(text)
        if text and not is_header_value(text):
            raise ConfigurationError(
                f"The {label} of connection {self.conn_id!r} holds a character that cannot be sent in an "
                "HTTP header (a line break, a control or a non-ASCII character inside it). Paste it again "
                f"into the {label} field, exactly as issued."
            )
        return text

    def key(self) -> str:
        """The connection's secret (the form's password field, or ``api_key`` in extra), as :meth:`credential`
        gives it: "" when there is none. Raises as :meth:`credential`."""
        return self.credential(self.declaration.secret_label, self.password or self.field("api_key"))

    def required_key(self, how: str = "put it") -> str:
        """:meth:`key`, which must be there.

        :raises ConfigurationError: naming the field, and ``how`` to fill it, when it is empty; or as
            :meth:`credential`.
        """
        key = self.key()
        if not key:
            secret = self.declaration.secret_label
            raise ConfigurationError(
                f"{self.declaration.label} connection {self.conn_id!r} has no {secret}: {how} in the "
                f"connection's {secret} field."
            )
        return key

    def base_url(self, default: str = "") -> str:
        """Host with the connection's Port added, ``https://`` when it names no scheme, no trailing slash;
        ``default`` (treated alike) when Host is empty."""
        url = with_port((self.host or "").strip(), self.port) or default
        if url and "://" not in url:
            url = f"https://{url}"
        return url.rstrip("/")

    def client_settings(self) -> ClientSettings:
        """The transport fields every connection type has (``core.declaration.SHARED_FIELDS``).

        :raises ConfigurationError: as :meth:`read_timeout`.
        """
        return ClientSettings(
            verify=self.flag("verify_tls"),
            ca_bundle=self.text("ca_bundle"),
            http2=self.flag("http2"),
            proxy=self.text("proxy"),
            read_timeout=self.read_timeout(),
        )

    def read_timeout(self) -> float:
        """The connection's Read timeout in seconds (``DEFAULT_READ_TIMEOUT`` when empty).

        :raises ConfigurationError: naming the field when it is not a number of seconds greater than 0.
        """
        raw = self.field("read_timeout")
        try:
            number = float(raw) if not isinstance(raw, bool) else math.nan
        except (TypeError, ValueError):
            number = math.nan
        if not math.isfinite(number) or number <= 0:
            raise ConfigurationError(
                f"The Read timeout of connection {self.conn_id!r} must be a number of seconds greater than 0, "
                f"not {raw!r}; clear it for the default of {DEFAULT_READ_TIMEOUT:g}."
            )
        return number

    def fingerprint(self) -> str:
        """A digest of everything the platform is built from (so secrets are not kept as cache keys)."""
        parts = [self.conn_id, self.conn_type, self.host, self.port, self.login, self.password, self.extra]
        return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def with_port(host: str, port: int | None) -> str:
    """``host`` (a URL or a bare host) with the connection's Port added when it names none itself."""
    if not host or not port:
        return host
    if "://" not in host:
        return host if ":" in host else f"{host}:{port}"
    parts = urlsplit(host)
    if parts.port is not None:
        return host
    return urlunsplit(parts._replace(netloc=f"{parts.netloc}:{port}"))


def as_bool(value: Any, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)
