"""How the Julep emulator reads requests and words refusals, as the server (FastAPI) does: 422 validation
errors with ``loc``, ``{"detail"}`` for the rest, offset listings."""

from __future__ import annotations

import json
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

MAX_LIMIT = 100  # the largest page a listing serves, and its default


class JulepError(Exception):
    """A refusal: its HTTP status and its ``detail`` (a 422's detail is the whole body)."""

    def __init__(self, status: int, detail: Any) -> None:
        super().__init__(str(detail))
        self.status = status
        self.detail = detail


def validation_error(message: str, loc: list[str]) -> JulepError:
    error = JulepError(422, None)
    error.detail = {
        "error": {
            "message": "Validation error",
            "details": [{"type": "value_error", "msg": message, "loc": loc}],
            "code": "validation_error",
        }
    }
    return error


def error_body(status: int, code: str, message: str) -> tuple[str, bytes]:
    return "application/json", json.dumps({"detail": message}).encode()


def parse_uuid(value: str, what: str) -> str:
    """``value`` as the canonical text of a UUID. :raises JulepError: 422 naming the path parameter ``what``."""
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise validation_error("Input should be a valid UUID", ["path", what]) from None


async def json_object(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"null")
    except ValueError:
        raise validation_error("JSON decode error", ["body"]) from None
    if not isinstance(body, dict):
        raise validation_error("Input should be a valid dictionary", ["body"])
    return body


def page(request: Request, items: list[dict[str, Any]]) -> Response:
    query = request.query_params
    try:
        limit = int(query.get("limit", MAX_LIMIT))
        offset = int(query.get("offset", 0))
    except ValueError:
        raise validation_error("Input should be a valid integer", ["query", "limit"]) from None
    if not 1 <= limit <= MAX_LIMIT:
        raise validation_error(f"limit must be between 1 and {MAX_LIMIT}", ["query", "limit"])
    if offset < 0:
        raise validation_error("offset must be >= 0", ["query", "offset"])
    sort_by = query.get("sort_by", "created_at")
    if sort_by not in ("created_at", "updated_at"):
        raise validation_error("Input should be 'created_at' or 'updated_at'", ["query", "sort_by"])
    descending = query.get("direction", "desc") == "desc"  # the server's default, unlike the spec's
    ordered = sorted(items, key=lambda item: str(item.get(sort_by, "")), reverse=descending)
    return JSONResponse({"items": ordered[offset : offset + limit]})
