"""A platform, declared once: everything outside its package that needs to know of it reads this.

A declaration names the platform, its connection form (the fields, their labels, placeholders and defaults),
what its run ids look like, its emulator, and the capabilities it has beyond submitting a run and reading its
status and outputs. Provider info builds Airflow's forms from it (:mod:`.forms`), the hooks read their
defaults from it, and :mod:`airflow_remote_tasks.registry` lists the declarations.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

from airflow_remote_tasks.core.assets import AssetShape


class Capability(enum.Enum):
    """What a platform may be able to do; one it lacks is answered by :class:`.platform.Platform`."""

    ABORT = "stop a run"
    RESUME = "resume a run with input"
    LIST_RUNS = "wait on a set of runs chosen by a selector"
    BATCHED_STATUS = "read several runs' statuses in one call"
    STREAMED_OUTPUTS = "download a run's outputs as a stream"
    PROGRESS = "report a run's progress events"
    LOGS = "read a run's logs"
    RATE_LIMIT = "slow its polls down to the API's rate limit"
    ENV = "take environment variables for a run"
    EVENTS = "fire asset events when remote runs change (an AssetWatcher's trigger)"
    WATCH_RUNS = "stream its runs' updates to the waits in the triggerer"


# How a connection field is typed in Airflow's form (its JSON schema): "secret" is masked in the form and in
# Airflow's logs.
FieldKind = Literal["text", "url", "secret", "flag", "number"]


@dataclass(frozen=True)
class ConnectionField:
    """One field of a connection's extra."""

    name: str  # its key in the connection's extra
    label: str
    description: str = ""
    placeholder: str = ""
    default: Any = None  # what the hooks read when the field is empty, and what the form starts with
    kind: FieldKind = "text"
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    # False: read when a connection written as JSON holds it, but not offered in the form (its description
    # says why).
    in_form: bool = True


@dataclass(frozen=True)
class StandardField:
    """One of Airflow's own connection fields (host, password, port) as a platform's form shows it."""

    label: str = ""  # empty: Airflow's own label
    placeholder: str = ""


# Airflow's own connection fields, in its form's order; the ones a declaration does not show are hidden.
AIRFLOW_FIELDS = ("host", "schema", "login", "password", "port", "extra")

# Every connection type has these: the transport fields (ConnectionView.client_settings reads them), and the
# key a connection written as JSON may hold in extra.
SHARED_FIELDS: tuple[ConnectionField, ...] = (
    ConnectionField("verify_tls", "Verify TLS certificates", default=True, kind="flag"),
    ConnectionField(
        "ca_bundle",
        "CA bundle",
        "Path to a PEM file of CAs to trust instead of the system's (a private CA), readable on every worker "
        "and triggerer.",
    ),
    ConnectionField(
        "proxy",
        "Proxy URL",
        "http://[user:password@]host:port for every call of this connection. Empty: the HTTPS_PROXY / "
        "HTTP_PROXY / NO_PROXY environment of the worker and triggerer.",
        kind="secret",  # it may hold the proxy's password
    ),
    ConnectionField(
        "read_timeout",
        "Read timeout",
        "Seconds to wait for the server's next bytes before a call fails (then it is tried again where that is "
        "safe). Default 30.",
        default=30,  # core.transport.DEFAULT_READ_TIMEOUT, written as the form shows it
        kind="number",
        minimum=0.1,
    ),
    ConnectionField(
        "http2",
        "HTTP/2",
        "Negotiate HTTP/2 over TLS. Needs the provider's [http2] extra.",
        default=False,  # HTTP/1.1 is what every server and proxy speaks
        kind="flag",
    ),
    ConnectionField(
        "api_key",
        "API key",
        "Not in the form: the key a connection written as JSON may hold in extra, read when the password (the "
        "form's API key field) is empty.",
        kind="secret",
        in_form=False,
    ),
)


@dataclass(frozen=True)
class PlatformDeclaration:
    name: str  # in run references and trigger kwargs: never renamed once released
    label: str  # what a person calls it: "Flyte 2 / Union"
    hook: str  # dotted path of the hook class, imported when first used
    platform: str  # dotted path of the Platform class
    docs_url: str
    # The connection form: Airflow's fields shown (host, password, port: their labels and placeholders, in
    # this order; the others are hidden), and the platform's own fields. The transport fields every
    # connection type has are added to these.
    shown: Mapping[str, StandardField] = field(default_factory=dict)
    fields: tuple[ConnectionField, ...] = ()
    capabilities: frozenset[Capability] = frozenset()
    # Why the platform lacks a capability, where that helps a person more than the capability's name does;
    # said before the hint of what to do instead.
    why_not: Mapping[Capability, str] = field(default_factory=dict)
    emulator: str = ""  # dotted path of the module behind ``remote-tasks emulator <name>``
    # What a run id of this platform looks like (a full match), and how to say so: an id is checked before
    # it goes into any URL, so ``../users/me`` can never name another resource. The default takes the
    # letters, digits and ``_ - . :`` every platform's ids are made of, and no ``/``.
    run_id_pattern: str = r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,255}"
    run_id_example: str = ""  # e.g. "a UUID such as 0b6d...": shown in the error
    # The forms of the platform's asset URIs (AIP-60; ``flyte://...``), registered through provider info.
    assets: AssetShape | None = None

    @property
    def conn_type(self) -> str:
        # Prefixed, so it cannot collide with another provider's (flyteorg's registers plain "flyte").
        return f"remote_tasks_{self.name}"

    @property
    def hook_name(self) -> str:
        return f"{self.label} (remote tasks)"

    @property
    def default_conn_name(self) -> str:
        return f"{self.name}_default"

    @property
    def hook_class_name(self) -> str:
        return self.hook.rsplit(".", 1)[1]

    @property
    def hook_module(self) -> str:
        return self.hook.rsplit(".", 1)[0]

    @property
    def secret_label(self) -> str:
        """What the form calls the password field ("API key")."""
        return self.shown.get("password", StandardField()).label or "password"

    @cached_property
    def connection_fields(self) -> dict[str, ConnectionField]:
        """Every field of the connection's extra that may be read, by name: the platform's, then the shared ones."""
        return {f.name: f for f in (*self.fields, *SHARED_FIELDS)}

    def default(self, name: str) -> Any:
        """The declared default of field ``name``.

        :raises LookupError: for a field this platform does not declare (a programming error).
        """
        return self.field_named(name).default

    def field_named(self, name: str) -> ConnectionField:
        """:raises LookupError: for a field this platform does not declare (a programming error)."""
        declared = self.connection_fields.get(name)
        if declared is None:
            raise LookupError(f"The {self.label} connection declares no field {name!r}.")
        return declared

    def check_run_id(self, run_id: Any, what: str = "run_id") -> str:
        """``run_id`` as this platform's run id, stripped.

        :raises ConfigurationError: naming ``what`` and the form expected, when it is not a string of that form.
        """
        # Imported here: provider info reads declarations while Airflow itself is still being imported.
        from airflow_remote_tasks.core.errors import ConfigurationError

        text = run_id.strip() if isinstance(run_id, str) else run_id
        if not isinstance(text, str) or not re.fullmatch(self.run_id_pattern, text):
            expected = self.run_id_example or f"an id matching {self.run_id_pattern}"
            raise ConfigurationError(
                f"{what}={run_id!r} is not a valid {self.label} run id: expected {expected}. Pass the id the "
                "platform shows for the run, not a path or URL."
            )
        return text
