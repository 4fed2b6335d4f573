"""Flyte 2 / Union: the Connect protocol of Flyte's control plane, its auth, and its literal encoding."""

from __future__ import annotations

from airflow_remote_tasks.core.assets import HOST, AssetShape
from airflow_remote_tasks.core.declaration import (
    Capability,
    ConnectionField,
    PlatformDeclaration,
    StandardField,
)

FLYTE_NAME = (r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?", "lower-case letters, digits and '-'")

PLATFORM = PlatformDeclaration(
    name="flyte",
    label="Flyte 2 / Union",
    hook="airflow_remote_tasks.platforms.flyte.hook.FlyteHook",
    platform="airflow_remote_tasks.platforms.flyte.platform.FlytePlatform",
    docs_url="https://www.union.ai/docs/",
    shown={
        "host": StandardField("Endpoint", "https://<tenant>.hosted.unionai.cloud or http://localhost:30080"),
        "password": StandardField(
            "API key", "from 'flyte create api-key' (holds endpoint, client id, secret and org)"
        ),
        "port": StandardField(placeholder="only when the endpoint names no port"),
    },
    fields=(
        ConnectionField("project", "Project", default="flytesnacks"),  # Flyte's own default project
        ConnectionField(
            "domain",
            "Domain",
            default="development",  # the domain every Flyte project has first
            choices=("development", "staging", "production"),
        ),
        ConnectionField(
            "org", "Organization", "Defaults to the API key's org, or the first label of the endpoint's host."
        ),
        ConnectionField("client_id", "Client ID", "OAuth2 client credentials, instead of an API key."),
        ConnectionField("client_secret", "Client secret", kind="secret"),
        ConnectionField(
            "access_token",
            "Access token",
            "A pre-minted bearer token; no OAuth2 flow is run.",
            kind="secret",
        ),
        ConnectionField(
            "auth_header", "Auth header name", "Leave empty to use the name the server advertises."
        ),
        ConnectionField(
            "console_url",
            "Console URL",
            "Where run links point, when the UI is not on the endpoint's host.",
            kind="url",
        ),
        ConnectionField(
            "data_plane_url",
            "Data plane URL",
            "Where the credentials may also go: the data-plane address the server names for outputs, uploads "
            "and logs when it is not the endpoint's (a split data plane). Empty: calls there carry no "
            "credentials.",
            kind="url",
        ),
        ConnectionField(
            "token_endpoint",
            "Token endpoint",
            "Where the client secret is posted for a token, when the server advertises one on another host (an "
            "identity provider such as Okta). Empty: the advertised one, only on the endpoint's own host.",
            kind="url",
        ),
        ConnectionField(
            "insecure",
            "Plain HTTP",
            "Use http:// for a bare host:port (local devbox).",
            default=False,  # TLS unless asked otherwise
            kind="flag",
        ),
        ConnectionField(
            "upload_inputs",
            "Upload inputs before CreateRun",
            "Offload inputs through DataProxyService/UploadInputs (zero-trust tenants) instead of sending them "
            "inline.",
            default=False,  # inline inputs need one call less, and every server takes them
            kind="flag",
        ),
        ConnectionField(
            "scopes",
            "OAuth2 scopes",
            "Not in the form: the scopes a client-credentials token is asked for, space-separated, in a "
            "connection written as JSON. Empty: the scopes the server advertises.",
            in_form=False,
        ),
    ),
    capabilities=frozenset(
        {
            Capability.ABORT,
            Capability.LIST_RUNS,
            Capability.BATCHED_STATUS,
            Capability.LOGS,
            Capability.ENV,
            Capability.EVENTS,
            Capability.WATCH_RUNS,
        }
    ),
    emulator="airflow_remote_tasks.emulators.flyte.command",
    # A Flyte task is known by its endpoint's host, project, domain and name (what a run of it needs).
    assets=AssetShape(
        scheme="flyte",
        label="Flyte",
        forms=("<host>/<project>/<domain>/<task>",),
        parts={
            "host": HOST,
            "project": FLYTE_NAME,
            "domain": FLYTE_NAME,
            "task": (r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}", "a task name such as my_env.train"),
        },
        example="flyte://acme.hosted.unionai.cloud/ml/production/my_env.train",
        lowered=frozenset({"host"}),
    ),
    # Run names are DNS-1035 labels of at most 30 characters: a client-chosen name, or the server's "r" and
    # 19 more (flyteidl2 RunIdentifier.name; OSS validateRunName).
    run_id_pattern=r"[a-z](?:[-a-z0-9]{0,28}[a-z0-9])?",
    run_id_example=(
        "a run name such as rk2x8w4qz7n5m1p9s3t6 (at most 30 lowercase letters, digits and '-', starting "
        "with a letter and not ending with '-')"
    ),
)
