"""Flyte 2 / Union: the Connect protocol of Flyte's control plane, its auth, and its literal encoding."""

from __future__ import annotations

from airflow_remote_tasks.core.declaration import PlatformDeclaration
from airflow_remote_tasks.core.forms import SECRET, TEXT

PLATFORM = PlatformDeclaration(
    name="flyte",
    label="Flyte 2 / Union",
    hook="airflow_remote_tasks.platforms.flyte.hook.FlyteHook",
    docs_url="https://www.union.ai/docs/",
    field_behaviour={
        "hidden-fields": ["schema", "login", "extra"],
        "relabeling": {"host": "Endpoint", "password": "API key"},
        "placeholders": {
            "host": "https://<tenant>.hosted.unionai.cloud or http://localhost:30080",
            "password": "from 'flyte create api-key' (holds endpoint, client id, secret and org)",
            "port": "only when the endpoint names no port",
        },
    },
    fields={
        "project": {"label": "Project", "schema": {**TEXT, "default": "flytesnacks"}},
        "domain": {
            "label": "Domain",
            "schema": {
                **TEXT,
                "default": "development",
                "enum": ["development", "staging", "production"],
            },
        },
        "org": {
            "label": "Organization",
            "description": "Defaults to the API key's org, or the first label of the endpoint's host.",
            "schema": TEXT,
        },
        "client_id": {
            "label": "Client ID",
            "description": "OAuth2 client credentials, instead of an API key.",
            "schema": TEXT,
        },
        "client_secret": {"label": "Client secret", "schema": SECRET},
        "access_token": {
            "label": "Access token",
            "description": "A pre-minted bearer token; no OAuth2 flow is run.",
            "schema": SECRET,
        },
        "auth_header": {
            "label": "Auth header name",
            "description": "Leave empty to use the name the server advertises.",
            "schema": TEXT,
        },
        "console_url": {
            "label": "Console URL",
            "description": "Where run links point, when the UI is not on the endpoint's host.",
            "schema": {**TEXT, "format": "url"},
        },
        "data_plane_url": {
            "label": "Data plane URL",
            "description": "Where the credentials may also go: the data-plane address the server names for "
            "outputs, uploads and logs when it is not the endpoint's (a split data plane). Empty: calls "
            "there carry no credentials.",
            "schema": {**TEXT, "format": "url"},
        },
        "token_endpoint": {
            "label": "Token endpoint",
            "description": "Where the client secret is posted for a token, when the server advertises one on "
            "another host (an identity provider such as Okta). Empty: the advertised one, only on the "
            "endpoint's own host.",
            "schema": {**TEXT, "format": "url"},
        },
        "insecure": {
            "label": "Plain HTTP",
            "description": "Use http:// for a bare host:port (local devbox).",
            "schema": {"type": "boolean", "default": False},
        },
        "upload_inputs": {
            "label": "Upload inputs before CreateRun",
            "description": "Offload inputs through DataProxyService/UploadInputs (zero-trust "
            "tenants) instead of sending them inline.",
            "schema": {"type": "boolean", "default": False},
        },
    },
    emulator="airflow_remote_tasks.emulators.flyte.command",
    # Run names are DNS-1035 labels of at most 30 characters: a client-chosen name, or the server's "r" and
    # 19 more (flyteidl2 RunIdentifier.name; OSS validateRunName).
    run_id_pattern=r"[a-z](?:[-a-z0-9]{0,28}[a-z0-9])?",
    run_id_example=(
        "a run name such as rk2x8w4qz7n5m1p9s3t6 (at most 30 lowercase letters, digits and '-', starting "
        "with a letter and not ending with '-')"
    ),
)
