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
    where,
)
from airflow_remote_tasks.core.foreign import not_the_api
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
# What an unauthenticated or permission_denied answer means for a call that carried the connection's credentials.
CREDENTIALS_REFUSED = (
    "The credentials were refused: check the connection's API key, client id/secret or token."
)
CONTROL_PLANE_HINT = (
    "Check that the connection's endpoint is the Flyte control plane (for example "
    "https://<tenant>.hosted.unionai.cloud or http://localhost:30080)."
)


def unary(
    base_url: str,
    method: str,
    message: dict[str, Any],
    *,
    idempotent: bool = True,
    authenticate: bool = True,
    share: str = "",
    refused: str = CREDENTIALS_REFUSED,
) -> Operation[dict[str, Any]]:
    """Call ``package.Service/Method`` once and return the decoded response message (``share``: see
    :class:`~airflow_remote_tasks.core.operation.HttpRequest`; ``refused``: what a refusal of the credentials
    means, for :func:`error_from_response`).

    :raises UnexpectedAnswerError: for a 200 whose body is not a JSON object (every Connect message is one).
    :raises RemoteTaskError: for an error status, as :func:`error_from_response` makes it.
    """
    url = f"{base_url}/{method}"
    response = yield HttpRequest(
        "POST",
        url,
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
        if body is None:
            return {}
        if not isinstance(body, dict):
            raise not_a_message(url, response)
        return body
    raise error_from_response(method, response, url, refused)


def not_a_message(url: str, response: HttpResponse) -> UnexpectedAnswerError:
    """The error for a 200 whose JSON is not an object, so no Flyte message: another service answered."""
    return not_an_answer(response.url or url, _sample(response), "not an object")


def not_an_answer(url: str, sample: str, why: str) -> UnexpectedAnswerError:
    """The error for a 200 from ``url`` whose JSON (``sample``) is not what the method answers (``why``)."""
    return UnexpectedAnswerError(
        f"{where(url)} answered HTTP 200 with JSON that is not a Flyte API answer ({why}): {sample!r}. "
        f"{CONTROL_PLANE_HINT}"
    )


def server_stream(
    base_url: str,
    method: str,
    message: dict[str, Any],
    limits: StreamLimits,
    *,
    refused: str = CREDENTIALS_REFUSED,
) -> Operation[list[dict[str, Any]]]:
    """Call a server-streaming method and return the messages that arrived before the stream went idle
    (``refused``: as for :func:`unary`)."""
    url = f"{base_url}/{method}"
    response = yield HttpRequest(
        "POST",
        url,
        headers=STREAM_HEADERS,
        content=envelope(message),
        stream=limits,
    )
    if response.status != 200 or response.content_type != "application/connect+json":
        raise error_from_response(method, response, url, refused)
    try:
        messages, end = split_envelopes(response.content)
    except ValueError:  # a message that is not JSON: the same rule as for a unary answer
        raise UnexpectedAnswerError.of(response.url or url, response) from None
    error = (end or {}).get("error")
    if error:
        raise _api_error(method, 200, error.get("code", "unknown"), error.get("message", ""), refused=refused)
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


class EnvelopeReader:
    """Envelopes out of a server stream's bytes as they arrive: the messages, then the end-of-stream envelope."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self.end: bytes | None = None  # the end-of-stream envelope, as it came

    def feed(self, chunk: bytes) -> list[dict[str, Any]]:
        """The messages ``chunk`` completes; a partial envelope waits for the next chunk.

        :raises ValueError: a message that is not JSON (as :func:`split_envelopes`).
        :raises TransportError: a compressed message (none is asked for).
        """
        self._buffer += chunk
        messages: list[dict[str, Any]] = []
        while self.end is None and len(self._buffer) >= 5:
            length = int.from_bytes(self._buffer[1:5], "big")
            if len(self._buffer) < 5 + length:
                break
            whole = bytes(self._buffer[: 5 + length])
            del self._buffer[: 5 + length]
            if whole[0] & END_STREAM:
                self.end = whole
                break
            messages += split_envelopes(whole)[0]
        return messages


def error_from_response(
    method: str, response: HttpResponse, url: str = "", refused: str = CREDENTIALS_REFUSED
) -> Exception:
    """The error for a non-200 answer to ``method`` at ``url``: the Connect error it carries, or, for an answer
    in someone else's words (a proxy's page, an ingress 404, a wrong base URL), :func:`not_the_api`'s error:
    permanent, except for the statuses a gateway answers while the API is down or overloaded."""
    if response.content_type == "application/json":
        try:
            body = response.json() or {}
        except ValueError:
            body = {}
        if isinstance(body, dict) and "code" in body:
            code, message = str(body["code"]), str(body.get("message", ""))
            return _api_error(method, response.status, code, message, response.tries, refused)
    endpoint = response.url or url
    return not_the_api(
        response.status,
        f"{where(endpoint) if endpoint else method} answered HTTP {response.status}{response.tries} with {response.content_type or 'no content type'}, which is not a Flyte API "
        f"answer: {_sample(response)!r}. {CONTROL_PLANE_HINT}",
    )


def _sample(response: HttpResponse) -> str:
    return " ".join(response.text.split())[:200]


def _api_error(
    method: str, status: int, code: str, message: str, tries: str = "", refused: str = CREDENTIALS_REFUSED
) -> ApiError:
    text = f"{method} failed{tries}: {code}: {message}" if message else f"{method} failed{tries}: {code}"
    if code in ("unauthenticated", "permission_denied"):
        return AuthenticationError(f"{text}. {refused}", status=status, code=code)
    if code == "not_found":
        return NotFoundError(text, status=status, code=code)
    if code == "already_exists":
        return AlreadyExistsError(text, status=status, code=code)
    return ApiError(text, status=status, code=code, retryable=code in RETRYABLE_CODES)
