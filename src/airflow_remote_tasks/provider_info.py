"""What ``get_provider_info`` returns: registration, connection types and their declarative form fields."""

from __future__ import annotations

from typing import Any

from airflow_remote_tasks.version import __version__

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
    "http2": {
        "label": "HTTP/2",
        "description": "Negotiate HTTP/2 over TLS. Needs the provider's [http2] extra.",
        "schema": {"type": "boolean", "default": False},
    },
}


def _flyte_connection() -> dict[str, Any]:
    return {
        "connection-type": "remote_tasks_flyte",
        "hook-class-name": "airflow_remote_tasks.hooks.flyte.FlyteHook",
        "hook-name": "Flyte 2 / Union (remote tasks)",
        "ui-field-behaviour": {
            "hidden-fields": ["schema", "login", "extra"],
            "relabeling": {"host": "Endpoint", "password": "API key"},
            "placeholders": {
                "host": "https://<tenant>.hosted.unionai.cloud or http://localhost:30080",
                "password": "from 'flyte create api-key' (holds endpoint, client id, secret and org)",
                "port": "only when the endpoint names no port",
            },
        },
        "conn-fields": {
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
            **TRANSPORT_FIELDS,
        },
    }


def _julep_connection() -> dict[str, Any]:
    return {
        "connection-type": "remote_tasks_julep",
        "hook-class-name": "airflow_remote_tasks.hooks.julep.JulepHook",
        "hook-name": "Julep (remote tasks)",
        "ui-field-behaviour": {
            "hidden-fields": ["schema", "login", "extra"],
            "relabeling": {"host": "Base URL (custom)", "password": "API key"},
            "placeholders": {
                "host": "leave empty for the environment's URL; self-hosted: https://julep.example.com/api",
                "password": "Julep API key",
                "port": "only when the base URL names no port",
            },
        },
        "conn-fields": {
            "environment": {
                "label": "Environment",
                "description": "Used when Base URL is empty.",
                "schema": {**TEXT, "default": "production", "enum": ["production", "dev"]},
            },
            "agent_id": {
                "label": "Agent ID",
                "description": "Default agent for task definitions and for looking tasks up by name.",
                "schema": TEXT,
            },
            "auth_header": {
                "label": "Auth header name",
                "description": "Authorization (sends 'Bearer <key>'); a self-hosted server may use X-Auth-Key.",
                "schema": {**TEXT, "default": "Authorization"},
            },
            **TRANSPORT_FIELDS,
        },
    }


def provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-provider-remote-tasks",
        "name": "Remote Tasks",
        "description": "Run tasks on Flyte 2 / Union, Julep, Labelbox and Avala from Airflow, and wait for them "
        "in the worker or the triggerer.",
        "versions": [__version__],
        "integrations": [
            {"integration-name": "Remote Tasks", "tags": ["service"]},
            {
                "integration-name": "Flyte 2 / Union",
                "external-doc-url": "https://www.union.ai/docs/",
                "tags": ["service"],
            },
            {"integration-name": "Julep", "external-doc-url": "https://docs.julep.ai", "tags": ["service"]},
        ],
        "operators": [
            {
                "integration-name": "Remote Tasks",
                "python-modules": [
                    "airflow_remote_tasks.operators.remote_task",
                    "airflow_remote_tasks.operators.resume_run",
                ],
            }
        ],
        "sensors": [
            {
                "integration-name": "Remote Tasks",
                "python-modules": ["airflow_remote_tasks.sensors.remote_run"],
            }
        ],
        "hooks": [
            {"integration-name": "Flyte 2 / Union", "python-modules": ["airflow_remote_tasks.hooks.flyte"]},
            {"integration-name": "Julep", "python-modules": ["airflow_remote_tasks.hooks.julep"]},
        ],
        "triggers": [
            {
                "integration-name": "Remote Tasks",
                "python-modules": ["airflow_remote_tasks.triggers.remote_run"],
            }
        ],
        "extra-links": ["airflow_remote_tasks.links.remote_run.RemoteRunLink"],
        "connection-types": [_flyte_connection(), _julep_connection()],
    }
