"""The Connect protocol (JSON codec) as Flyte's control plane speaks it: requests, errors, envelopes."""

from __future__ import annotations

import json
import struct
from typing import Any

from airflow_remote_tasks.core.errors import (
    AlreadyExistsError,
    ApiError,
    AuthenticationError,
    NotFoundError,
    TransportError,
    UnexpectedAnswerError,
)
from airflow_remote_tasks.core.operation import HttpRequest, HttpResponse, Operation, StreamLimits

UNARY_HEADERS = {
    "Content-Type": "application/json",
    "Connect-Protocol-Version": "1",
    "Accept-Encoding": "gzip, identity",
}
STREAM_HEADERS = {
    "Content-Type": "application/connect+json",
    "Connect-Protocol-Version": "1",
}
RETRYABLE_CODES = frozenset({"unavailable", "resource_exhausted", "deadline_exceeded", "aborted"})
END_STREAM = 0x02


def unary(
    base_url: str,
    method: str,
    message: dict[str, Any],
    *,
    idempotent: bool = True,
    authenticate: bool = True,
    share: str = "",
) -> Operation[dict[str, Any]]:
    """Call ``package.Service/Method`` once and return the decoded response message (``share``: see
    :class:`~airflow_remote_tasks.core.operation.HttpRequest`)."""
    response = yield HttpRequest(
        "POST",
        f"{base_url}/{method}",
        headers=UNARY_HEADERS,
        # An empty message must still be "{}": Connect rejects a zero-length JSON body.
        content=json.dumps(message, separators=(",", ":")).encode(),
        idempotent=idempotent,
        authenticate=authenticate,
        share=share,
    )
    if response.status == 200:
        # The executors' rule decides what a success body is: JSON, even labelled otherwise (UnexpectedAnswerError
        # for anything else), as for every platform.
        body = response.json()
        return body if isinstance(body, dict) else {}
    raise error_from_response(method, response)


def server_stream(
    base_url: str, method: str, message: dict[str, Any], limits: StreamLimits
) -> Operation[list[dict[str, Any]]]:
    """Call a server-streaming method and return the messages that arrived before the stream went idle."""
    response = yield HttpRequest(
        "POST",
        f"{base_url}/{method}",
        headers=STREAM_HEADERS,
        content=envelope(message),
        stream=limits,
    )
    if response.status != 200 or response.content_type != "application/connect+json":
        raise error_from_response(method, response)
    try:
        messages, end = split_envelopes(response.content)
    except ValueError:  # a message that is not JSON: the same rule as for a unary answer
        raise UnexpectedAnswerError.of(response.url or f"{base_url}/{method}", response) from None
    error = (end or {}).get("error")
    if error:
        raise _api_error(method, 200, error.get("code", "unknown"), error.get("message", ""))
    return messages


def envelope(message: dict[str, Any], flags: int = 0) -> bytes:
    payload = json.dumps(message, separators=(",", ":")).encode()
    return struct.pack(">BI", flags, len(payload)) + payload


def split_envelopes(data: bytes) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Decode the complete envelopes in ``data``; a trailing partial one (cut by the idle timeout) is dropped.

    :raises ValueError: for a message that is not JSON.
    :raises TransportError: for a compressed message (none is asked for).
    """
    messages: list[dict[str, Any]] = []
    end: dict[str, Any] | None = None
    offset = 0
    while offset + 5 <= len(data):
        flags, length = struct.unpack_from(">BI", data, offset)
        if offset + 5 + length > len(data):
            break
        payload = json.loads(data[offset + 5 : offset + 5 + length] or b"{}")
        offset += 5 + length
        if flags & END_STREAM:
            end = payload
            break
        if flags & 0x01:
            raise TransportError("The server sent a compressed stream message although none was asked for.")
        messages.append(payload)
    return messages, end


def error_from_response(method: str, response: HttpResponse) -> Exception:
    if response.content_type == "application/json":
        try:
            body = response.json() or {}
        except ValueError:
            body = {}
        if isinstance(body, dict) and "code" in body:
            code, message = str(body["code"]), str(body.get("message", ""))
            return _api_error(method, response.status, code, message, response.tries)
    # Not a Connect error: a proxy page, an ingress 404/405, a wrong base URL.
    snippet = " ".join(response.text.split())[:200]
    return TransportError(
        f"{method} got HTTP {response.status}{response.tries} ({response.content_type or 'no content type'}) "
        "that is not a "
        f"Flyte API answer: {snippet!r}. Check that the connection's endpoint is the Flyte control plane "
        "(for example https://<tenant>.hosted.unionai.cloud or http://localhost:30080)."
    )


def _api_error(method: str, status: int, code: str, message: str, tries: str = "") -> ApiError:
    text = f"{method} failed{tries}: {code}: {message}" if message else f"{method} failed{tries}: {code}"
    if code in ("unauthenticated", "permission_denied"):
        return AuthenticationError(
            f"{text}. The credentials were refused: check the connection's API key, client id/secret "
            "or token.",
            status=status,
            code=code,
        )
    if code == "not_found":
        return NotFoundError(text, status=status, code=code)
    if code == "already_exists":
        return AlreadyExistsError(text, status=status, code=code)
    return ApiError(text, status=status, code=code, retryable=code in RETRYABLE_CODES)
