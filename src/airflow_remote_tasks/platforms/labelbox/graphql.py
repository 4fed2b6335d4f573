"""Labelbox's GraphQL transport: the request envelope, and reading answers whose errors arrive inside HTTP 200.

The decoding follows the order the official SDK uses (the first matching ``extensions.code`` wins). What is
worth another try is decided here too, and handed to the executor with each request, since a rate limit or a
server error can come back as a 200 with an ``errors`` array.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from airflow_remote_tasks.core.errors import (
    AlreadyExistsError,
    ApiError,
    AuthenticationError,
    InvalidInputsError,
    NotFoundError,
    TransportError,
)
from airflow_remote_tasks.core.operation import HttpRequest, HttpResponse, Operation
from airflow_remote_tasks.platforms.labelbox.config import LabelboxConfig

HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}
RATE_LIMITED = "You have exceeded"  # how Labelbox words a rate limit in a JSON body
# INTERNAL_SERVER_ERROR carries the HTTP status it stands for; these are the client's fault or final.
FINAL_INNER_STATUSES = frozenset({400, 422, 426, 500})


def call(
    config: LabelboxConfig, query: str, variables: dict[str, Any] | None, *, idempotent: bool = True
) -> Operation[dict[str, Any]]:
    """Send one GraphQL operation and return its ``data``. A query is safe to repeat; a mutation only when the
    caller says it is (``idempotent``)."""
    response = yield HttpRequest(
        "POST",
        config.endpoint,
        headers={**HEADERS, "X-User-Agent": config.user_agent},
        content=json.dumps({"query": query, "variables": variables}).encode(),
        idempotent=idempotent,
        retry_answer=worth_retrying,
    )
    return data_of(operation_name(query), response)


def call_with_file(
    config: LabelboxConfig,
    query: str,
    variables: dict[str, Any],
    *,
    part: str,
    filename: str,
    content_type: str,
    data: bytes,
    idempotent: bool,
) -> Operation[dict[str, Any]]:
    """Send one operation with a file (the GraphQL multipart request convention): ``variables.file`` is null
    in ``operations`` and mapped to the part named ``part``. Returns the answer's ``data``."""
    boundary = secrets.token_hex(16)
    operations = {"variables": {**variables, "file": None, "contentLength": len(data)}, "query": query}
    body = bytearray()
    for name, part_filename, part_type, content in (
        ("operations", None, None, json.dumps(operations).encode()),
        ("map", None, None, json.dumps({part: ["variables.file"]}).encode()),
        (part, filename, content_type, data),
    ):
        body += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"'.encode()
        if part_filename:
            body += f'; filename="{part_filename}"\r\nContent-Type: {part_type}'.encode()
        body += b"\r\n\r\n" + content + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    response = yield HttpRequest(
        "POST",
        config.endpoint,
        headers={
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Accept": "application/json",
            "X-User-Agent": config.user_agent,
        },
        content=bytes(body),
        idempotent=idempotent,
        retry_answer=worth_retrying,
    )
    return data_of(operation_name(query), response)


def upload(config: LabelboxConfig, filename: str, content_type: str, data: bytes) -> Operation[str]:
    """Upload a file and return its URL. Safe to repeat: a second upload only leaves an unused copy."""
    from airflow_remote_tasks.platforms.labelbox.queries import UPLOAD_FILE

    answer = yield from call_with_file(
        config,
        UPLOAD_FILE,
        {"sign": False},
        part="1",
        filename=filename,
        content_type=content_type,
        data=data,
        idempotent=True,
    )
    return str(answer["uploadFile"]["url"])


def operation_name(query: str) -> str:
    words = query.replace("(", " ").replace("{", " ").split()
    for index, word in enumerate(words[:-1]):
        if word in ("query", "mutation"):
            return words[index + 1]
    return "GraphQL call"


def worth_retrying(response: HttpResponse) -> bool:
    """A rate limit or a passing server error, whether as an HTTP status or inside a 200."""
    if response.status in (429, 502, 503, 504):
        return True
    body = _json(response)
    if not isinstance(body, dict):
        return False
    if str(body.get("message", "")).startswith(RATE_LIMITED):
        return True
    for error in body.get("errors") or []:
        extensions = (error or {}).get("extensions") or {}
        if extensions.get("code") == "INTERNAL_SERVER_ERROR":
            inner = (extensions.get("exception") or {}).get("status")
            if isinstance(inner, int) and inner not in FINAL_INNER_STATUSES:
                return True
    return False


def data_of(name: str, response: HttpResponse) -> dict[str, Any]:
    """The answer's ``data``.

    :raises AuthenticationError: the key was refused. :raises NotFoundError: RESOURCE_NOT_FOUND.
    :raises InvalidInputsError: the server refused the request's content. :raises ApiError: anything else
        (``retryable`` for rate limits and passing server errors). :raises TransportError: not a GraphQL answer.
    """
    body = _json(response)
    if not isinstance(body, dict):
        snippet = " ".join(response.text.split())[:200]
        raise TransportError(
            f"{name} got HTTP {response.status}{response.tries} that is not a GraphQL answer: {snippet!r}. Check "
            "the connection's endpoint (https://api.labelbox.com/graphql, or your server's /graphql)."
        )
    if str(body.get("message", "")).startswith(RATE_LIMITED) or response.status == 429:
        raise ApiError(
            f"{name} was rate-limited{response.tries}: {body.get('message') or 'HTTP 429'}",
            status=429,
            code="rate_limited",
            retryable=True,
        )
    errors = body.get("errors") or []
    if errors:
        raise _error(name, response, errors)
    if response.status != 200 or not isinstance(body.get("data"), dict):
        raise ApiError(
            f"{name} failed with HTTP {response.status}{response.tries}: {body.get('message') or body}",
            status=response.status,
            retryable=worth_retrying(response),
        )
    data: dict[str, Any] = body["data"]
    return data


def _error(name: str, response: HttpResponse, errors: list[Any]) -> Exception:
    codes = [((e or {}).get("extensions") or {}).get("code", "") for e in errors]
    messages = "; ".join(str((e or {}).get("message", "")) for e in errors)
    text = f"{name} failed{response.tries}: {messages}"
    status = response.status
    if "AUTHENTICATION_ERROR" in codes:
        return AuthenticationError(
            f"{text}. The API key was refused: check the connection's API key.",
            status=401,
            code="unauthenticated",
        )
    if "AUTHORIZATION_ERROR" in codes:
        return AuthenticationError(
            f"{text}. The API key's user may not do this: check its role in the organization.",
            status=403,
            code="permission_denied",
        )
    if "RESOURCE_NOT_FOUND" in codes:
        return NotFoundError(text, status=404, code="not_found")
    if "RESOURCE_CONFLICT" in codes:
        return AlreadyExistsError(text, status=409, code="conflict")
    if "MALFORMED_REQUEST" in codes:
        return InvalidInputsError(f"{text}. Nothing was started.")
    for error, code in zip(errors, codes, strict=True):
        if code == "INTERNAL_SERVER_ERROR":
            inner = (((error or {}).get("extensions") or {}).get("exception") or {}).get("status")
            if inner in (400, 422):
                return InvalidInputsError(f"{text}. Nothing was started.")
            return ApiError(text, status=status, code=str(inner or code), retryable=worth_retrying(response))
    return ApiError(text, status=status, code=",".join(filter(None, codes)) or "graphql_error")


def _json(response: HttpResponse) -> Any:
    try:
        return response.json()
    except ValueError:
        return None
