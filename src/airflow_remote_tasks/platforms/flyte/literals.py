"""Flyte literals in proto3 JSON: encode Python values against a LiteralType, decode them back.

Dicts, dataclasses and pydantic models travel as STRUCT values in msgpack (the SDK's wire format).
"""

from __future__ import annotations

import base64
import dataclasses
import math
import re
from datetime import date, datetime, timedelta, timezone
from typing import Any

import msgpack

SIMPLE_NAMES = {
    "NONE": "None",
    "INTEGER": "int",
    "FLOAT": "float",
    "STRING": "str",
    "BOOLEAN": "bool",
    "DATETIME": "datetime",
    "DURATION": "timedelta",
    "BINARY": "bytes",
    "ERROR": "error",
    "STRUCT": "dict",
}
SIMPLE_BY_NUMBER = [
    "NONE",
    "INTEGER",
    "FLOAT",
    "STRING",
    "BOOLEAN",
    "DATETIME",
    "DURATION",
    "BINARY",
    "ERROR",
    "STRUCT",
]
_INT = re.compile(r"^[+-]?\d+$")
_DURATION = re.compile(r"^(-?\d+(?:\.\d+)?)s$")


class LiteralError(ValueError):
    """A value that does not fit its declared type; ``path`` says where inside the input."""

    def __init__(self, path: str, expected: str, value: Any) -> None:
        shown = repr(value)
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        super().__init__(f"{path}: expected {expected}, got {type(value).__name__} {shown}")
        self.path = path


def simple_of(literal_type: dict[str, Any]) -> str | None:
    simple = literal_type.get("simple")
    if isinstance(simple, int):
        return SIMPLE_BY_NUMBER[simple] if 0 <= simple < len(SIMPLE_BY_NUMBER) else None
    if simple is None and not _has_complex(literal_type):
        return "NONE"  # zero value omitted on the wire
    return simple


def _has_complex(t: dict[str, Any]) -> bool:
    return any(
        k in t
        for k in (
            "collectionType",
            "mapValueType",
            "unionType",
            "enumType",
            "blob",
            "structuredDatasetType",
            "schema",
        )
    )


def render_type(t: dict[str, Any]) -> str:
    """A Python-looking name for a LiteralType, for messages a DAG author reads."""
    if "collectionType" in t:
        return f"list[{render_type(t['collectionType'])}]"
    if "mapValueType" in t:
        return f"dict[str, {render_type(t['mapValueType'])}]"
    if "unionType" in t:
        variants = [render_type(v) for v in t["unionType"].get("variants", [])]
        others = [v for v in variants if v != "None"]
        if len(others) < len(variants) and len(others) == 1:
            return f"Optional[{others[0]}]"
        return " | ".join(variants)
    if "enumType" in t:
        return "one of " + ", ".join(repr(v) for v in t["enumType"].get("values", []))
    if "blob" in t:
        return "File or Dir URI" if t["blob"] else "File URI"
    if "structuredDatasetType" in t:
        return "DataFrame URI"
    simple = simple_of(t)
    return SIMPLE_NAMES.get(simple or "", str(simple))


def encode(value: Any, t: dict[str, Any], path: str) -> dict[str, Any]:
    """The Literal for ``value`` as type ``t``; raises LiteralError naming ``path``."""
    if "collectionType" in t:
        if not isinstance(value, (list, tuple)):
            raise LiteralError(path, render_type(t), value)
        return {
            "collection": {
                "literals": [encode(v, t["collectionType"], f"{path}[{i}]") for i, v in enumerate(value)]
            }
        }
    if "mapValueType" in t:
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise LiteralError(path, render_type(t), value)
        return {
            "map": {"literals": {k: encode(v, t["mapValueType"], f"{path}[{k!r}]") for k, v in value.items()}}
        }
    if "unionType" in t:
        return {"scalar": {"union": _encode_union(value, t, path)}}
    if "enumType" in t:
        allowed = t["enumType"].get("values", [])
        if value not in allowed:
            raise LiteralError(path, render_type(t), value)
        return _primitive("stringValue", value)
    if "blob" in t:
        if not isinstance(value, str) or not value:
            raise LiteralError(path, render_type(t), value)
        return {"scalar": {"blob": {"metadata": {"type": t["blob"]}, "uri": value}}}
    if "structuredDatasetType" in t:
        if not isinstance(value, str) or not value:
            raise LiteralError(path, render_type(t), value)
        return {
            "scalar": {
                "structuredDataset": {
                    "uri": value,
                    "metadata": {"structuredDatasetType": t["structuredDatasetType"]},
                }
            }
        }
    return _encode_simple(value, simple_of(t), t, path)


def _encode_union(value: Any, t: dict[str, Any], path: str) -> dict[str, Any]:
    variants = t["unionType"].get("variants", [])
    for variant in variants:
        try:
            literal = encode(value, variant, path)
        except LiteralError:
            continue
        return {"value": literal, "type": variant}
    raise LiteralError(path, render_type(t), value)


def _encode_simple(value: Any, simple: str | None, t: dict[str, Any], path: str) -> dict[str, Any]:
    expected = render_type(t)
    if simple == "NONE":
        if value is not None:
            raise LiteralError(path, expected, value)
        return {"scalar": {"noneType": {}}}
    if value is None:
        raise LiteralError(path, expected, value)
    if simple == "STRING":
        if not isinstance(value, str):
            raise LiteralError(path, expected, value)
        return _primitive("stringValue", value)
    if simple == "INTEGER":
        if isinstance(value, str) and _INT.match(value.strip()):
            value = int(value)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise LiteralError(path, expected, value)
        return _primitive("integer", str(value))
    if simple == "FLOAT":
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                raise LiteralError(path, expected, value) from None
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise LiteralError(path, expected, value)
        number = float(value)
        if math.isnan(number) or math.isinf(number):
            # proto3 JSON spells these as strings
            return _primitive(
                "floatValue", "NaN" if math.isnan(number) else ("Infinity" if number > 0 else "-Infinity")
            )
        return _primitive("floatValue", number)
    if simple == "BOOLEAN":
        if isinstance(value, str) and value.lower() in ("true", "false"):
            value = value.lower() == "true"
        if not isinstance(value, bool):
            raise LiteralError(path, expected, value)
        return _primitive("boolean", value)
    if simple == "DATETIME":
        return _primitive("datetime", _timestamp(value, path, expected))
    if simple == "DURATION":
        return _primitive("duration", _duration(value, path, expected))
    if simple == "STRUCT":
        return {"scalar": {"binary": {"value": _msgpack(value, path, expected), "tag": "msgpack"}}}
    if simple == "BINARY":
        if not isinstance(value, (bytes, bytearray)):
            raise LiteralError(path, expected, value)
        return {"scalar": {"binary": {"value": base64.b64encode(bytes(value)).decode()}}}
    raise LiteralError(path, f"a supported type (this task declares {expected})", value)


def _primitive(field: str, value: Any) -> dict[str, Any]:
    return {"scalar": {"primitive": {field: value}}}


def _timestamp(value: Any, path: str, expected: str) -> str:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise LiteralError(path, f"{expected} (ISO 8601)", value) from None
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    if not isinstance(value, datetime):
        raise LiteralError(path, expected, value)
    moment: datetime = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def _duration(value: Any, path: str, expected: str) -> str:
    if isinstance(value, str):
        match = _DURATION.match(value.strip())
        if not match:
            raise LiteralError(path, f"{expected} (a timedelta or seconds like '90s')", value)
        return f"{match.group(1)}s"
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise LiteralError(path, expected, value)
    text = f"{seconds:.9f}".rstrip("0").rstrip(".")
    return f"{text}s"


def _msgpack(value: Any, path: str, expected: str) -> str:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    elif hasattr(value, "model_dump"):
        value = value.model_dump(mode="json")
    if not isinstance(value, dict):
        raise LiteralError(path, expected, value)
    try:
        packed = msgpack.packb(value, use_bin_type=True)
    except (TypeError, ValueError) as error:
        raise LiteralError(path, f"{expected} of JSON-like values ({error})", value) from None
    return base64.b64encode(bytes(packed)).decode()


def decode(literal: dict[str, Any]) -> Any:
    """The Python value of a Literal; files and datasets come back as their URIs."""
    if "collection" in literal:
        return [decode(item) for item in literal["collection"].get("literals", [])]
    if "map" in literal:
        return {k: decode(v) for k, v in literal["map"].get("literals", {}).items()}
    if "offloadedMetadata" in literal:
        meta = literal["offloadedMetadata"]
        return {"offloaded_uri": meta.get("uri", ""), "size_bytes": int(meta.get("sizeBytes", 0))}
    scalar = literal.get("scalar", {})
    if "primitive" in scalar:
        return _decode_primitive(scalar["primitive"])
    if "union" in scalar:
        return decode(scalar["union"].get("value", {}))
    if "noneType" in scalar or not scalar:
        return None
    if "binary" in scalar:
        raw = base64.b64decode(scalar["binary"].get("value", ""))
        if scalar["binary"].get("tag") == "msgpack":
            return msgpack.unpackb(raw, raw=False)
        return raw
    if "blob" in scalar:
        return scalar["blob"].get("uri", "")
    if "structuredDataset" in scalar:
        return scalar["structuredDataset"].get("uri", "")
    if "generic" in scalar:
        return scalar["generic"]
    if "error" in scalar:
        return {"error": scalar["error"].get("message", "")}
    return scalar


def _decode_primitive(primitive: dict[str, Any]) -> Any:
    if "integer" in primitive:
        return int(primitive["integer"])
    if "floatValue" in primitive:
        return float(primitive["floatValue"])
    if "stringValue" in primitive:
        return primitive["stringValue"]
    if "boolean" in primitive:
        return bool(primitive["boolean"])
    if "datetime" in primitive:
        return datetime.fromisoformat(primitive["datetime"].replace("Z", "+00:00"))
    if "duration" in primitive:
        return timedelta(seconds=float(primitive["duration"].rstrip("s")))
    return None
