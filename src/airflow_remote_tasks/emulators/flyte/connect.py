"""What every Flyte service of the emulator shares: proto3 JSON in and out, Connect errors, listings."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any, TypeVar

from connectrpc.code import Code
from connectrpc.errors import ConnectError
from google.protobuf import json_format
from google.protobuf.message import Message

from airflow_remote_tasks.emulators.flyte.state import EmulatedRun, FlyteState, Rejected

MAX_PAGE = 200  # the largest ``limit`` a listing takes
DEFAULT_PAGE = 50  # a listing's page without a ``limit``
M = TypeVar("M", bound=Message)
T = TypeVar("T")


def to_dict(message: Message) -> dict[str, Any]:
    return json_format.MessageToDict(message)


def from_dict(data: dict[str, Any], message: M) -> M:
    """``message`` filled from proto3 JSON. :raises json_format.ParseError: a body the message does not hold."""
    return json_format.ParseDict(data, message)


def connect_error(code: str, message: str) -> ConnectError:
    return ConnectError(Code(code), message)


def connect_error_body(status: int, code: str, message: str) -> tuple[str, bytes]:
    """A Connect error envelope, for answers given outside the generated applications (faults, auth)."""
    return "application/json", json.dumps({"code": code, "message": message}).encode()


def found(call: Callable[[], T]) -> T:
    """What ``call`` returns. :raises ConnectError: with the code of the :class:`Rejected` it raised."""
    try:
        return call()
    except Rejected as rejected:
        raise connect_error(rejected.code, str(rejected)) from None


class Unimplemented:
    """Methods the emulator does not serve answer ``unimplemented``, as an unknown method would."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)

        async def unimplemented(request: Any, ctx: Any) -> Any:
            raise ConnectError(Code.UNIMPLEMENTED, f"{name} is not implemented by the emulator")

        return unimplemented


def run_of(state: FlyteState, run_id: dict[str, Any]) -> EmulatedRun:
    """The run a RunIdentifier (proto3 JSON) names. :raises ConnectError: ``not_found``."""
    return found(
        lambda: state.run(run_id.get("project", ""), run_id.get("domain", ""), run_id.get("name", ""))
    )


def action_run(state: FlyteState, action_id: dict[str, Any]) -> EmulatedRun:
    """The run whose root action (``a0``, the only one a run has here) an ActionIdentifier names.

    :raises ConnectError: ``not_found`` for another action or an unknown run."""
    run = run_of(state, action_id.get("run", {}))
    if action_id.get("name") != "a0":
        raise connect_error("not_found", f"action {action_id.get('name')!r} not found")
    return run


def action_of(run: EmulatedRun) -> dict[str, Any]:
    """The root action as a run listing or a create shows it: id, metadata, status."""
    details = run.action_details()
    return {"id": details["id"], "metadata": details["metadata"], "status": details["status"]}


def equal_filter(listing: dict[str, Any], field: str) -> set[str]:
    """The values a listing's ``EQUAL`` / ``VALUE_IN`` filters on ``field`` allow (empty: any)."""
    values: set[str] = set()
    for f in listing.get("filters", []):
        if f.get("field") == field and f.get("function", "EQUAL") in ("EQUAL", "VALUE_IN"):
            values.update(f.get("values", []))
    return values


def lower_bound(listing: dict[str, Any], field: str) -> float | None:
    """The time (epoch seconds) a listing's ``GREATER_THAN_OR_EQUAL`` filter on ``field`` (an ISO-8601 UTC
    value) asks for, or None.

    :raises ConnectError: ``invalid_argument`` for a value that is no ISO-8601 time."""
    for f in listing.get("filters", []):
        if f.get("field") == field and f.get("function") == "GREATER_THAN_OR_EQUAL":
            value = str((f.get("values") or [""])[0])
            try:
                moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                raise connect_error("invalid_argument", f"invalid {field} filter value {value!r}") from None
            return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp()
    return None


def descending(listing: dict[str, Any]) -> bool:
    sort = listing.get("sortBy") or (listing.get("sortByFields") or [{}])[0]
    return bool(sort.get("direction", "DESCENDING") == "DESCENDING")


def page(items: list[T], listing: dict[str, Any]) -> tuple[list[T], str]:
    """One page of ``items`` and the next page's token ("" after the last).

    :raises ConnectError: ``invalid_argument`` for a limit over :data:`MAX_PAGE`."""
    limit = int(listing.get("limit") or DEFAULT_PAGE)
    if limit > MAX_PAGE:
        raise connect_error("invalid_argument", f"limit {limit} exceeds the maximum of {MAX_PAGE}")
    start = int(listing.get("token") or 0)
    end = start + limit
    return items[start:end], (str(end) if end < len(items) else "")
