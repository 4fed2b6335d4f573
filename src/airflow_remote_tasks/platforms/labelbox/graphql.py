"""Labelbox's GraphQL transport: the request envelope, and reading answers whose errors arrive inside HTTP 200.

The decoding follows the order the official SDK uses (the first matching ``extensions.code`` wins). What is
worth another try is decided here too, and handed to the executor with each request, since a rate limit or a
server error can come back as a 200 with an ``errors`` array.
"""

from __future__ import annotations

import io
import json
import secrets
from collections.abc import Callable, Iterator
from typing import IO, Any

from airflow_remote_tasks.core.errors import (
    AlreadyExistsError,
    ApiError,
    AuthenticationError,
    InvalidInputsError,
    NotFoundError,
    RefusedError,
)
from airflow_remote_tasks.core.foreign import not_its_answer
from airflow_remote_tasks.core.operation import HttpRequest, HttpResponse, Operation
from airflow_remote_tasks.platforms.labelbox import queries
from airflow_remote_tasks.platforms.labelbox.config import LabelboxConfig

HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}
RATE_LIMITED = "You have exceeded"  # how Labelbox words a rate limit in a JSON body
# INTERNAL_SERVER_ERROR carries the HTTP status it stands for; these are the client's fault or final.
FINAL_INNER_STATUSES = frozenset({400, 422, 426, 500})
FILE_PIECE = 1 << 20  # a file part is sent in pieces this large: memory stays flat whatever its size
ENDPOINT_HINT = "Labelbox's is https://api.labelbox.com/graphql (or a server's own /graphql)."


def call(
    config: LabelboxConfig,
    query: str,
    variables: dict[str, Any] | None,
    *,
    idempotent: bool = True,
    pause: float = 0.0,
) -> Operation[dict[str, Any]]:
    """Send one GraphQL operation and return its ``data``. A query is safe to repeat; a mutation only when the
    caller says it is (``idempotent``). ``pause``: seconds to wait before sending it (a read of a job that was
    still running at the last read).
    """
    response = yield HttpRequest(
        "POST",
        config.endpoint,
        headers={**HEADERS, "X-User-Agent": config.user_agent},
        content=json.dumps({"query": query, "variables": variables}).encode(),
        idempotent=idempotent,
        retry_answer=worth_retrying,
        pause=pause,
    )
    return data_of(operation_name(query), response, config.endpoint)


def call_with_file(
    config: LabelboxConfig,
    query: str,
    variables: dict[str, Any],
    *,
    part: str,
    filename: str,
    content_type: str,
    data: bytes | IO[bytes],
    idempotent: bool,
) -> Operation[dict[str, Any]]:
    """Send one operation with a file (the GraphQL multipart request convention): ``variables.file`` is null
    in ``operations`` and mapped to the part named ``part``. ``data``: the file's bytes, or a local file (a
    spool) that is sent in pieces from its start, never held whole. Returns the answer's ``data``."""
    boundary = secrets.token_hex(16)
    size = len(data) if isinstance(data, bytes) else data.seek(0, io.SEEK_END)
    operations = {"variables": {**variables, "file": None, "contentLength": size}, "query": query}
    head = bytearray()
    for name, part_filename, part_type, content in (
        ("operations", None, None, json.dumps(operations).encode()),
        ("map", None, None, json.dumps({part: ["variables.file"]}).encode()),
        (part, filename, content_type, None),
    ):
        head += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"'.encode()
        if part_filename:
            head += f'; filename="{part_filename}"\r\nContent-Type: {part_type}'.encode()
        head += b"\r\n\r\n"
        if content is not None:
            head += content + b"\r\n"
    tail = f"\r\n--{boundary}--\r\n".encode()
    body = bytes(head) + data + tail if isinstance(data, bytes) else FileBody(bytes(head), data, tail)
    response = yield HttpRequest(
        "POST",
        config.endpoint,
        headers={
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Accept": "application/json",
            "X-User-Agent": config.user_agent,
            "Content-Length": str(len(head) + size + len(tail)),
        },
        content=body,
        idempotent=idempotent,
        retry_answer=worth_retrying,
    )
    return data_of(operation_name(query), response, config.endpoint)


class FileBody:
    """A multipart body whose file part is a local file: read from its start for each try, in pieces."""

    def __init__(self, head: bytes, file: IO[bytes], tail: bytes) -> None:
        self.head, self.file, self.tail = head, file, tail

    def chunks(self) -> Iterator[bytes]:
        yield self.head
        self.file.seek(0)
        while block := self.file.read(FILE_PIECE):
            yield block
        yield self.tail


def upload(config: LabelboxConfig, filename: str, content_type: str, data: bytes) -> Operation[str]:
    """Upload a file and return its URL. Safe to repeat: a second upload only leaves an unused copy."""
    uploaded = yield from call_with_file(
        config,
        queries.UPLOAD_FILE,
        {"sign": False},
        part="1",
        filename=filename,
        content_type=content_type,
        data=data,
        idempotent=True,
    )
    return str(uploaded["uploadFile"]["url"])


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
    for error in _errors(body):
        extensions = (error.get("extensions") if isinstance(error, dict) else None) or {}
        if extensions.get("code") == "INTERNAL_SERVER_ERROR":
            inner = (extensions.get("exception") or {}).get("status")
            if isinstance(inner, int) and inner not in FINAL_INNER_STATUSES:
                return True
    return False


def _rate_limited(body: Any) -> bool:
    return isinstance(body, dict) and str(body.get("message", "")).startswith(RATE_LIMITED)


def _graphql_answer(body: Any) -> bool:
    """A GraphQL response: its ``data``, or its ``errors`` (a rate limit may come as a ``message`` in a 200)."""
    return isinstance(body, dict) and (
        isinstance(body.get("data"), dict) or bool(_errors(body)) or _rate_limited(body)
    )


def _labelbox_error(body: Any) -> bool:
    """An error answer as Labelbox words one: GraphQL ``errors``, or a ``message`` (a rate limit, a refusal)."""
    return isinstance(body, dict) and (bool(_errors(body)) or isinstance(body.get("message"), str))


# What Labelbox answers, by whether the status is a success, and that in words for the error when it is not.
# Anything else is another service's page or JSON (a proxy, a portal, a wrong endpoint).
ANSWERS: dict[bool, tuple[Callable[[Any], bool], str]] = {
    True: (_graphql_answer, "a GraphQL answer (a JSON object with 'data' or 'errors')"),
    False: (_labelbox_error, "a Labelbox error (a JSON object with 'errors' or a 'message')"),
}


def data_of(name: str, response: HttpResponse, url: str = "") -> dict[str, Any]:
    """The answer's ``data`` (``url``: where the call went, when the response does not say).

    :raises AuthenticationError: the key was refused. :raises NotFoundError: RESOURCE_NOT_FOUND.
    :raises InvalidInputsError: the server refused the request's content. :raises RefusedError: the call itself
        was refused (it does not parse or validate; a value of the wrong shape). :raises ApiError: anything else
        (``retryable`` for rate limits and passing server errors). :raises UnexpectedAnswerError: an answer that
        is not Labelbox's (not a GraphQL answer, an HTML page), naming the URL and what came back; for
        HTTP 429, 502, 503 or 504 in someone else's words a :class:`TransportError` instead (transient).
    """
    body = _json(response)
    fits, expected = ANSWERS[200 <= response.status < 300]
    if not fits(body):
        raise not_its_answer(url, response, expected, f"{ENDPOINT_HINT} The call was {name}.")
    if _rate_limited(body) or response.status == 429:
        raise ApiError(
            f"{name} was rate-limited{response.tries}: {body.get('message') or 'HTTP 429'}",
            status=429,
            code="rate_limited",
            retryable=True,
        )
    errors = _errors(body)
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


REFUSED_CALL = (
    "Labelbox refused the call itself before doing anything, so asking again cannot help. Check that the "
    "connection's endpoint is Labelbox's GraphQL API (https://api.labelbox.com/graphql, or your server's "
    "/graphql); if it is, the call this provider sends does not suit that server: report it with this message."
)
# extensions.code -> the error, the HTTP status and code it stands for, and what to do; the first code of an
# answer found here wins, in the order the official SDK checks them.
ERRORS_BY_CODE: dict[str, tuple[type[ApiError], int, str, str]] = {
    "AUTHENTICATION_ERROR": (
        AuthenticationError,
        401,
        "unauthenticated",
        "The API key was refused: check the connection's API key.",
    ),
    "AUTHORIZATION_ERROR": (
        AuthenticationError,
        403,
        "permission_denied",
        "The API key's user may not do this: check its role in the organization.",
    ),
    # The call itself refused, as Labelbox (and Apollo Server, whose codes these are) words it: a query that does
    # not parse or fit the schema, a request it cannot read, a value of the wrong shape. The same call again
    # meets the same answer.
    "GRAPHQL_VALIDATION_FAILED": (RefusedError, 400, "refused_call", REFUSED_CALL),
    "GRAPHQL_PARSE_FAILED": (RefusedError, 400, "refused_call", REFUSED_CALL),
    "BAD_REQUEST": (RefusedError, 400, "refused_call", REFUSED_CALL),
    "OPERATION_RESOLUTION_FAILURE": (RefusedError, 400, "refused_call", REFUSED_CALL),
    "BAD_USER_INPUT": (
        RefusedError,
        400,
        "refused_value",
        "Labelbox refused a value the call carries, so asking again cannot help: check the value the message "
        "names (an id, a filter, a row's field) in the task's inputs or the run id.",
    ),
    "RESOURCE_NOT_FOUND": (NotFoundError, 404, "not_found", ""),
    "RESOURCE_CONFLICT": (AlreadyExistsError, 409, "conflict", ""),
}
# Codes (and INTERNAL_SERVER_ERROR's inner statuses) that say the request's content was refused.
REFUSED_CONTENT = frozenset({"MALFORMED_REQUEST", "400", "422"})


def describe_errors(errors: list[Any]) -> str:
    """Each GraphQL error as ``CODE: message`` (``CODE (status N): message`` when it names an HTTP status)."""
    described = []
    for error in errors:
        entry = error if isinstance(error, dict) else {"message": error}
        extensions = entry.get("extensions") or {}
        inner = (extensions.get("exception") or {}).get("status")
        status = f" (status {inner})" if inner else ""
        described.append(
            f"{extensions.get('code') or 'no code'}{status}: {entry.get('message') or 'no message'}"
        )
    return "; ".join(described)


def _error(name: str, response: HttpResponse, errors: list[Any]) -> Exception:
    extensions = [((e or {}).get("extensions") or {}) if isinstance(e, dict) else {} for e in errors]
    codes = [str(x.get("code") or "") for x in extensions]
    inner = [str((x.get("exception") or {}).get("status") or "") for x in extensions]
    text = f"{name} failed{response.tries}: Labelbox answered {describe_errors(errors)}"
    for code, (kind, status, short, hint) in ERRORS_BY_CODE.items():
        if code in codes:
            return kind(f"{text.rstrip('.')}. {hint}" if hint else text, status=status, code=short)
    for code, inner_status in zip(codes, inner, strict=True):
        if code in REFUSED_CONTENT or (code == "INTERNAL_SERVER_ERROR" and inner_status in REFUSED_CONTENT):
            return InvalidInputsError(f"{text}. Nothing was started.")
    first = next((f"{c}:{s}" if s else c for c, s in zip(codes, inner, strict=True) if c), "graphql_error")
    return ApiError(text, status=response.status, code=first, retryable=worth_retrying(response))


def _errors(body: dict[str, Any]) -> list[Any]:
    """A GraphQL answer's ``errors`` list (empty when it has none, or something else under that name)."""
    errors = body.get("errors")
    return errors if isinstance(errors, list) else []


def _json(response: HttpResponse) -> Any:
    try:
        return response.json()
    except ValueError:
        return None
