"""The connection forms Airflow gets from ``get_provider_info()``, built from the typed declarations, are the
forms of the release before them: same fields, labels, placeholders, defaults and order."""

from __future__ import annotations

import json

import pytest

from airflow_remote_tasks.provider_info import provider_info

# Each connection type's form as the previous release built it by hand, key order included (Airflow shows the
# fields in this order).
RELEASED_FORMS = {
    "remote_tasks_flyte": {
        "hook-class-name": "airflow_remote_tasks.platforms.flyte.hook.FlyteHook",
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
            "project": {"label": "Project", "schema": {"type": ["string", "null"], "default": "flytesnacks"}},
            "domain": {
                "label": "Domain",
                "schema": {
                    "type": ["string", "null"],
                    "default": "development",
                    "enum": ["development", "staging", "production"],
                },
            },
            "org": {
                "label": "Organization",
                "description": "Defaults to the API key's org, or the first label of the endpoint's host.",
                "schema": {"type": ["string", "null"]},
            },
            "client_id": {
                "label": "Client ID",
                "description": "OAuth2 client credentials, instead of an API key.",
                "schema": {"type": ["string", "null"]},
            },
            "client_secret": {
                "label": "Client secret",
                "schema": {"type": ["string", "null"], "format": "password"},
            },
            "access_token": {
                "label": "Access token",
                "description": "A pre-minted bearer token; no OAuth2 flow is run.",
                "schema": {"type": ["string", "null"], "format": "password"},
            },
            "auth_header": {
                "label": "Auth header name",
                "description": "Leave empty to use the name the server advertises.",
                "schema": {"type": ["string", "null"]},
            },
            "console_url": {
                "label": "Console URL",
                "description": "Where run links point, when the UI is not on the endpoint's host.",
                "schema": {"type": ["string", "null"], "format": "url"},
            },
            "data_plane_url": {
                "label": "Data plane URL",
                "description": "Where the credentials may also "
                "go: the data-plane address the "
                "server names for outputs, uploads "
                "and logs when it is not the "
                "endpoint's (a split data plane). "
                "Empty: calls there carry no "
                "credentials.",
                "schema": {"type": ["string", "null"], "format": "url"},
            },
            "token_endpoint": {
                "label": "Token endpoint",
                "description": "Where the client secret is posted "
                "for a token, when the server "
                "advertises one on another host "
                "(an identity provider such as "
                "Okta). Empty: the advertised one, "
                "only on the endpoint's own host.",
                "schema": {"type": ["string", "null"], "format": "url"},
            },
            "insecure": {
                "label": "Plain HTTP",
                "description": "Use http:// for a bare host:port (local devbox).",
                "schema": {"type": "boolean", "default": False},
            },
            "upload_inputs": {
                "label": "Upload inputs before CreateRun",
                "description": "Offload inputs through "
                "DataProxyService/UploadInputs "
                "(zero-trust tenants) instead of "
                "sending them inline.",
                "schema": {"type": "boolean", "default": False},
            },
            "verify_tls": {
                "label": "Verify TLS certificates",
                "schema": {"type": "boolean", "default": True},
            },
            "ca_bundle": {
                "label": "CA bundle",
                "description": "Path to a PEM file of CAs to trust "
                "instead of the system's (a private "
                "CA), readable on every worker and "
                "triggerer.",
                "schema": {"type": ["string", "null"]},
            },
            "proxy": {
                "label": "Proxy URL",
                "description": "http://[user:password@]host:port for every "
                "call of this connection. Empty: the "
                "HTTPS_PROXY / HTTP_PROXY / NO_PROXY "
                "environment of the worker and triggerer.",
                "schema": {"type": ["string", "null"], "format": "password"},
            },
            "read_timeout": {
                "label": "Read timeout",
                "description": "Seconds to wait for the server's "
                "next bytes before a call fails "
                "(then it is tried again where that "
                "is safe). Default 30.",
                "schema": {"type": ["number", "null"], "default": 30, "minimum": 0.1},
            },
            "http2": {
                "label": "HTTP/2",
                "description": "Negotiate HTTP/2 over TLS. Needs the provider's [http2] extra.",
                "schema": {"type": "boolean", "default": False},
            },
        },
    },
    "remote_tasks_julep": {
        "hook-class-name": "airflow_remote_tasks.platforms.julep.hook.JulepHook",
        "hook-name": "Julep (remote tasks)",
        "ui-field-behaviour": {
            "hidden-fields": ["schema", "login", "extra"],
            "relabeling": {"host": "Base URL (custom)", "password": "API key"},
            "placeholders": {
                "host": "leave empty for the environment's URL; self-hosted: https://julep.example.com/api",
                "password": "Julep API key",
                "port": "only when the base URL names no port",
                "execution_link": "https://dashboard.example.com/executions/{execution_id}",
            },
        },
        "conn-fields": {
            "environment": {
                "label": "Environment",
                "description": "Used when Base URL is empty.",
                "schema": {
                    "type": ["string", "null"],
                    "default": "production",
                    "enum": ["production", "dev"],
                },
            },
            "agent_id": {
                "label": "Agent ID",
                "description": "Default agent for task definitions and for looking tasks up by name.",
                "schema": {"type": ["string", "null"]},
            },
            "auth_header": {
                "label": "Auth header name",
                "description": "Authorization (sends 'Bearer "
                "<key>'); a self-hosted server may "
                "use X-Auth-Key.",
                "schema": {"type": ["string", "null"], "default": "Authorization"},
            },
            "execution_link": {
                "label": "Execution link",
                "description": "Where a run's Remote run link "
                "points: a URL with {execution_id} "
                "(and optionally {task_id}). "
                "Empty: runs have no link.",
                "schema": {"type": ["string", "null"]},
            },
            "verify_tls": {
                "label": "Verify TLS certificates",
                "schema": {"type": "boolean", "default": True},
            },
            "ca_bundle": {
                "label": "CA bundle",
                "description": "Path to a PEM file of CAs to trust "
                "instead of the system's (a private "
                "CA), readable on every worker and "
                "triggerer.",
                "schema": {"type": ["string", "null"]},
            },
            "proxy": {
                "label": "Proxy URL",
                "description": "http://[user:password@]host:port for every "
                "call of this connection. Empty: the "
                "HTTPS_PROXY / HTTP_PROXY / NO_PROXY "
                "environment of the worker and triggerer.",
                "schema": {"type": ["string", "null"], "format": "password"},
            },
            "read_timeout": {
                "label": "Read timeout",
                "description": "Seconds to wait for the server's "
                "next bytes before a call fails "
                "(then it is tried again where that "
                "is safe). Default 30.",
                "schema": {"type": ["number", "null"], "default": 30, "minimum": 0.1},
            },
            "http2": {
                "label": "HTTP/2",
                "description": "Negotiate HTTP/2 over TLS. Needs the provider's [http2] extra.",
                "schema": {"type": "boolean", "default": False},
            },
        },
    },
    "remote_tasks_labelbox": {
        "hook-class-name": "airflow_remote_tasks.platforms.labelbox.hook.LabelboxHook",
        "hook-name": "Labelbox (remote tasks)",
        "ui-field-behaviour": {
            "hidden-fields": ["schema", "login", "extra"],
            "relabeling": {"host": "GraphQL endpoint", "password": "API key"},
            "placeholders": {
                "host": "leave empty for https://api.labelbox.com/graphql",
                "password": "an API key from Workspace settings > API keys",
                "port": "only when the endpoint names no port",
            },
        },
        "conn-fields": {
            "app_url": {
                "label": "App URL",
                "description": "Where links to projects and tasks point (default https://app.labelbox.com).",
                "schema": {"type": ["string", "null"], "format": "url"},
            },
            "verify_tls": {
                "label": "Verify TLS certificates",
                "schema": {"type": "boolean", "default": True},
            },
            "ca_bundle": {
                "label": "CA bundle",
                "description": "Path to a PEM file of CAs to trust "
                "instead of the system's (a private "
                "CA), readable on every worker and "
                "triggerer.",
                "schema": {"type": ["string", "null"]},
            },
            "proxy": {
                "label": "Proxy URL",
                "description": "http://[user:password@]host:port for "
                "every call of this connection. Empty: "
                "the HTTPS_PROXY / HTTP_PROXY / NO_PROXY "
                "environment of the worker and "
                "triggerer.",
                "schema": {"type": ["string", "null"], "format": "password"},
            },
            "read_timeout": {
                "label": "Read timeout",
                "description": "Seconds to wait for the server's "
                "next bytes before a call fails "
                "(then it is tried again where "
                "that is safe). Default 30.",
                "schema": {"type": ["number", "null"], "default": 30, "minimum": 0.1},
            },
            "http2": {
                "label": "HTTP/2",
                "description": "Negotiate HTTP/2 over TLS. Needs the provider's [http2] extra.",
                "schema": {"type": "boolean", "default": False},
            },
        },
    },
    "remote_tasks_avala": {
        "hook-class-name": "airflow_remote_tasks.platforms.avala.hook.AvalaHook",
        "hook-name": "Avala (remote tasks)",
        "ui-field-behaviour": {
            "hidden-fields": ["schema", "login", "extra"],
            "relabeling": {"host": "Base URL", "password": "API key"},
            "placeholders": {
                "host": "leave empty for https://api.avala.ai/api/v1",
                "password": "avk_... (sent as X-Avala-Api-Key)",
                "port": "only when the base URL names no port",
            },
        },
        "conn-fields": {
            "app_url": {
                "label": "App URL",
                "description": "Where the task's Remote run link opens: "
                "Avala's web app. Empty: https://avala.ai "
                "(the app host of Avala's own CLI). Links "
                "are <App "
                "URL>/projects/<project>/tasks/<task "
                "uid>, .../exports/<uid> and "
                ".../auto-label-jobs/<uid> (GUESS: Avala "
                "does not document its app's paths); a "
                "dataset export links to <App "
                "URL>/datasets/<dataset>/exports/<uid>.",
                "schema": {"type": ["string", "null"]},
            },
            "status_map": {
                "label": "Status words",
                "description": "JSON: Avala status word -> phase, "
                "added to or overriding the built-in "
                'table, e.g. {"in_review": "running", '
                '"archived": "succeeded"}. Unknown '
                "words count as not finished.",
                "schema": {"type": ["string", "null"]},
            },
            "verify_tls": {
                "label": "Verify TLS certificates",
                "schema": {"type": "boolean", "default": True},
            },
            "ca_bundle": {
                "label": "CA bundle",
                "description": "Path to a PEM file of CAs to trust "
                "instead of the system's (a private "
                "CA), readable on every worker and "
                "triggerer.",
                "schema": {"type": ["string", "null"]},
            },
            "proxy": {
                "label": "Proxy URL",
                "description": "http://[user:password@]host:port for every "
                "call of this connection. Empty: the "
                "HTTPS_PROXY / HTTP_PROXY / NO_PROXY "
                "environment of the worker and triggerer.",
                "schema": {"type": ["string", "null"], "format": "password"},
            },
            "read_timeout": {
                "label": "Read timeout",
                "description": "Seconds to wait for the server's "
                "next bytes before a call fails "
                "(then it is tried again where that "
                "is safe). Default 30.",
                "schema": {"type": ["number", "null"], "default": 30, "minimum": 0.1},
            },
            "http2": {
                "label": "HTTP/2",
                "description": "Negotiate HTTP/2 over TLS. Needs the provider's [http2] extra.",
                "schema": {"type": "boolean", "default": False},
            },
        },
    },
}


def built_forms() -> dict:
    keys = ("hook-class-name", "hook-name", "ui-field-behaviour", "conn-fields")
    return {c["connection-type"]: {k: c[k] for k in keys} for c in provider_info()["connection-types"]}


@pytest.mark.parametrize("conn_type", list(RELEASED_FORMS))
def test_each_form_is_the_released_one(conn_type):
    assert built_forms()[conn_type] == RELEASED_FORMS[conn_type]


def test_the_forms_keep_their_order():
    assert json.dumps(built_forms()) == json.dumps(RELEASED_FORMS)


def test_the_description_names_the_platforms_as_released():
    assert provider_info()["description"] == (
        "Run tasks on Flyte 2 / Union, Julep, Labelbox and Avala from Airflow, and wait for them in the worker or "
        "the triggerer."
    )
