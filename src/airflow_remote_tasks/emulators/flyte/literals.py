"""Flyte literals as the emulator's control plane reads and writes them, against a task's declared types.

Written from flyteidl2's own messages (``flyteidl2.core.Literal`` and ``LiteralType``): the proto3 JSON is
parsed into the generated classes, which own the JSON mapping (int64 as strings, enum names, oneofs), and the
oneofs are walked. It knows what the seeded tasks take and return: strings, integers, floats, booleans,
structs (msgpack, as the SDK sends them), lists, maps and optional values. Like flyteadmin, it refuses an
input whose literal does not have its declared type.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

import msgpack
from flyteidl2.core import literals_pb2, types_pb2
from google.protobuf import json_format

Literal = literals_pb2.Literal
LiteralType = types_pb2.LiteralType

# The Primitive field that carries each simple type the seeded tasks use.
PRIMITIVE_FIELDS: Mapping[int, str] = MappingProxyType(
    {
        types_pb2.INTEGER: "integer",
        types_pb2.FLOAT: "float_value",
        types_pb2.STRING: "string_value",
        types_pb2.BOOLEAN: "boolean",
    }
)
STRUCT_TAG = "msgpack"  # the Binary tag of a struct: the SDK's encoding of dicts, dataclasses and models


class LiteralRefused(ValueError):
    """A literal that does not have its declared type, or a type the emulator's tasks do not use."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"input {path!r}: {problem}")


def read(literal: dict[str, Any], literal_type: dict[str, Any], path: str) -> Any:
    """The Python value of a Literal (proto3 JSON) declared as ``literal_type``.

    :raises LiteralRefused: the literal is not of that type, or the type is none the emulator reads."""
    try:
        message = json_format.ParseDict(literal, Literal())
    except json_format.ParseError as error:
        raise LiteralRefused(path, f"not a Literal ({error})") from None
    return _read(message, json_format.ParseDict(literal_type, LiteralType()), path)


def write(value: Any, literal_type: dict[str, Any]) -> dict[str, Any]:
    """The Literal (proto3 JSON) of a value the emulator produces (an output, a default) of ``literal_type``.

    :raises LiteralRefused: a type the emulator does not write."""
    return json_format.MessageToDict(_write(value, json_format.ParseDict(literal_type, LiteralType()), ""))


# -- reading ---------------------------------------------------------------------------------------


def _read(literal: Any, literal_type: Any, path: str) -> Any:
    reader = READERS.get(str(literal_type.WhichOneof("type")))
    if reader is None:
        raise LiteralRefused(path, f"a {literal_type.WhichOneof('type')} type, which no seeded task has")
    return reader(literal, literal_type, path)


def _read_simple(literal: Any, literal_type: Any, path: str) -> Any:
    simple = literal_type.simple
    scalar_kind = literal.scalar.WhichOneof("value") if literal.WhichOneof("value") == "scalar" else None
    if simple == types_pb2.STRUCT:
        binary = literal.scalar.binary
        if scalar_kind != "binary" or binary.tag != STRUCT_TAG:
            raise LiteralRefused(path, f"a struct is a binary tagged {STRUCT_TAG!r}, got {_shape(literal)}")
        try:
            return msgpack.unpackb(binary.value, raw=False)
        except (ValueError, msgpack.UnpackException) as error:
            raise LiteralRefused(path, f"the struct is not msgpack ({error})") from None
    if simple == types_pb2.NONE:
        if scalar_kind != "none_type":
            raise LiteralRefused(path, f"expected none, got {_shape(literal)}")
        return None
    field = PRIMITIVE_FIELDS.get(simple)
    if field is None:
        raise LiteralRefused(path, f"a {types_pb2.SimpleType.Name(simple)} type, which no seeded task has")
    primitive = literal.scalar.primitive
    if scalar_kind != "primitive" or primitive.WhichOneof("value") != field:
        raise LiteralRefused(path, f"expected a {field} primitive, got {_shape(literal)}")
    return getattr(primitive, field)


def _read_collection(literal: Any, literal_type: Any, path: str) -> Any:
    if literal.WhichOneof("value") != "collection":
        raise LiteralRefused(path, f"expected a collection, got {_shape(literal)}")
    item_type = literal_type.collection_type
    return [_read(item, item_type, f"{path}[{i}]") for i, item in enumerate(literal.collection.literals)]


def _read_map(literal: Any, literal_type: Any, path: str) -> Any:
    if literal.WhichOneof("value") != "map":
        raise LiteralRefused(path, f"expected a map, got {_shape(literal)}")
    value_type = literal_type.map_value_type
    return {key: _read(item, value_type, f"{path}[{key!r}]") for key, item in literal.map.literals.items()}


def _read_union(literal: Any, literal_type: Any, path: str) -> Any:
    """A union literal names its variant's type (structure tag included), which must be one declared."""
    if literal.WhichOneof("value") != "scalar" or literal.scalar.WhichOneof("value") != "union":
        raise LiteralRefused(path, f"expected a union, got {_shape(literal)}")
    union = literal.scalar.union
    if union.type not in literal_type.union_type.variants:
        tag = union.type.structure.tag or "untagged"
        raise LiteralRefused(path, f"the union's type ({tag}) is none of its declared variants")
    return _read(union.value, union.type, path)


def _shape(literal: Any) -> str:
    """What a literal holds, for a refusal: ``collection``, ``primitive integer``, ``binary 'json'``, ..."""
    kind = literal.WhichOneof("value")
    if kind != "scalar":
        return str(kind or "an empty literal")
    scalar_kind = literal.scalar.WhichOneof("value")
    if scalar_kind == "primitive":
        return f"primitive {literal.scalar.primitive.WhichOneof('value')}"
    if scalar_kind == "binary":
        return f"binary {literal.scalar.binary.tag!r}"
    return str(scalar_kind or "an empty scalar")


READERS: Mapping[str, Callable[[Any, Any, str], Any]] = MappingProxyType(
    {
        "simple": _read_simple,
        "collection_type": _read_collection,
        "map_value_type": _read_map,
        "union_type": _read_union,
    }
)


# -- writing ---------------------------------------------------------------------------------------


def _write(value: Any, literal_type: Any, path: str) -> Any:
    writer = WRITERS.get(str(literal_type.WhichOneof("type")))
    if writer is None:
        raise LiteralRefused(path, f"a {literal_type.WhichOneof('type')} type, which no seeded task has")
    return writer(value, literal_type, path)


def _write_simple(value: Any, literal_type: Any, path: str) -> Any:
    simple = literal_type.simple
    if simple == types_pb2.STRUCT:
        packed = msgpack.packb(value, use_bin_type=True)
        return Literal(scalar=literals_pb2.Scalar(binary=literals_pb2.Binary(value=packed, tag=STRUCT_TAG)))
    if simple == types_pb2.NONE:
        return Literal(scalar=literals_pb2.Scalar(none_type=literals_pb2.Void()))
    field = PRIMITIVE_FIELDS.get(simple)
    if field is None:
        raise LiteralRefused(path, f"a {types_pb2.SimpleType.Name(simple)} type, which no seeded task has")
    return Literal(scalar=literals_pb2.Scalar(primitive=literals_pb2.Primitive(**{field: value})))


def _write_collection(value: Any, literal_type: Any, path: str) -> Any:
    items = [_write(item, literal_type.collection_type, f"{path}[{i}]") for i, item in enumerate(value)]
    return Literal(collection=literals_pb2.LiteralCollection(literals=items))


def _write_map(value: Any, literal_type: Any, path: str) -> Any:
    items = {
        key: _write(item, literal_type.map_value_type, f"{path}[{key!r}]") for key, item in value.items()
    }
    return Literal(map=literals_pb2.LiteralMap(literals=items))


def _write_union(value: Any, literal_type: Any, path: str) -> Any:
    """None goes as the NONE variant, anything else as the first other one (the seeded tasks' unions are
    optional values: one variant and none)."""
    variants = literal_type.union_type.variants
    variant = next(v for v in variants if _is_none(v) == (value is None))
    union = literals_pb2.Union(value=_write(value, variant, path), type=variant)
    return Literal(scalar=literals_pb2.Scalar(union=union))


def _is_none(literal_type: Any) -> bool:
    return bool(literal_type.WhichOneof("type") == "simple" and literal_type.simple == types_pb2.NONE)


WRITERS: Mapping[str, Callable[[Any, Any, str], Any]] = MappingProxyType(
    {
        "simple": _write_simple,
        "collection_type": _write_collection,
        "map_value_type": _write_map,
        "union_type": _write_union,
    }
)
