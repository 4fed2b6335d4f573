"""Flyte literals as the emulator's control plane reads and writes them, against a task's declared types.

Written from flyteidl2's own messages (``flyteidl2.core.Literal`` and ``LiteralType``): the proto3 JSON is
parsed into the generated classes, which own the JSON mapping (int64 as strings, enum names, oneofs), and the
oneofs are walked. It knows what the seeded tasks take and return: strings, integers, floats, booleans,
structs (msgpack, as the SDK sends them), lists, maps and optional values, one codec each. It refuses an
input whose literal does not have its declared type, so a client's encoding error shows at the create.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import msgpack
from flyteidl2.core import literals_pb2, types_pb2
from google.protobuf import json_format

Literal = literals_pb2.Literal
LiteralType = types_pb2.LiteralType
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
    declared = json_format.ParseDict(literal_type, LiteralType())
    return _codec(declared, path).read(message, declared, path)


def write(value: Any, literal_type: dict[str, Any]) -> dict[str, Any]:
    """The Literal (proto3 JSON) of a value the emulator produces (an output, a default) of ``literal_type``.

    :raises LiteralRefused: a type the emulator does not write."""
    declared = json_format.ParseDict(literal_type, LiteralType())
    return json_format.MessageToDict(_codec(declared, "").write(value, declared, ""))


class Codec:
    """How one kind of LiteralType is read from its Literal message and written to one."""

    def read(self, literal: Any, literal_type: Any, path: str) -> Any:
        raise NotImplementedError

    def write(self, value: Any, literal_type: Any, path: str) -> Any:
        raise NotImplementedError


def _codec(literal_type: Any, path: str) -> Codec:
    """The codec of a declared type. :raises LiteralRefused: a type no seeded task has."""
    kind = str(literal_type.WhichOneof("type"))
    found = SIMPLE_CODECS.get(literal_type.simple) if kind == "simple" else KIND_CODECS.get(kind)
    if found is None:
        named = types_pb2.SimpleType.Name(literal_type.simple) if kind == "simple" else kind
        raise LiteralRefused(path, f"a {named} type, which no seeded task has")
    return found


def _scalar_kind(literal: Any) -> str | None:
    return literal.scalar.WhichOneof("value") if literal.WhichOneof("value") == "scalar" else None


@dataclass(frozen=True)
class PrimitiveCodec(Codec):
    field: str  # the Primitive field that carries the type

    def read(self, literal: Any, literal_type: Any, path: str) -> Any:
        primitive = literal.scalar.primitive
        if _scalar_kind(literal) != "primitive" or primitive.WhichOneof("value") != self.field:
            raise LiteralRefused(path, f"expected primitive {self.field}, got {_shape(literal)}")
        return getattr(primitive, self.field)

    def write(self, value: Any, literal_type: Any, path: str) -> Any:
        return Literal(scalar=literals_pb2.Scalar(primitive=literals_pb2.Primitive(**{self.field: value})))


class StructCodec(Codec):
    def read(self, literal: Any, literal_type: Any, path: str) -> Any:
        binary = literal.scalar.binary
        if _scalar_kind(literal) != "binary" or binary.tag != STRUCT_TAG:
            raise LiteralRefused(path, f"a struct is a binary tagged {STRUCT_TAG!r}, got {_shape(literal)}")
        try:
            return msgpack.unpackb(binary.value, raw=False)
        except (ValueError, msgpack.UnpackException) as error:
            raise LiteralRefused(path, f"the struct is not msgpack ({error})") from None

    def write(self, value: Any, literal_type: Any, path: str) -> Any:
        packed = msgpack.packb(value, use_bin_type=True)
        return Literal(scalar=literals_pb2.Scalar(binary=literals_pb2.Binary(value=packed, tag=STRUCT_TAG)))


class NoneCodec(Codec):
    def read(self, literal: Any, literal_type: Any, path: str) -> Any:
        if _scalar_kind(literal) != "none_type":
            raise LiteralRefused(path, f"expected none, got {_shape(literal)}")
        return None

    def write(self, value: Any, literal_type: Any, path: str) -> Any:
        return Literal(scalar=literals_pb2.Scalar(none_type=literals_pb2.Void()))


class CollectionCodec(Codec):
    def read(self, literal: Any, literal_type: Any, path: str) -> Any:
        if literal.WhichOneof("value") != "collection":
            raise LiteralRefused(path, f"expected a collection, got {_shape(literal)}")
        item_type = literal_type.collection_type
        item = _codec(item_type, path)
        return [item.read(x, item_type, f"{path}[{i}]") for i, x in enumerate(literal.collection.literals)]

    def write(self, value: Any, literal_type: Any, path: str) -> Any:
        item_type = literal_type.collection_type
        item = _codec(item_type, path)
        items = [item.write(x, item_type, f"{path}[{i}]") for i, x in enumerate(value)]
        return Literal(collection=literals_pb2.LiteralCollection(literals=items))


class MapCodec(Codec):
    def read(self, literal: Any, literal_type: Any, path: str) -> Any:
        if literal.WhichOneof("value") != "map":
            raise LiteralRefused(path, f"expected a map, got {_shape(literal)}")
        value_type = literal_type.map_value_type
        item = _codec(value_type, path)
        return {k: item.read(x, value_type, f"{path}[{k!r}]") for k, x in literal.map.literals.items()}

    def write(self, value: Any, literal_type: Any, path: str) -> Any:
        value_type = literal_type.map_value_type
        item = _codec(value_type, path)
        items = {k: item.write(x, value_type, f"{path}[{k!r}]") for k, x in value.items()}
        return Literal(map=literals_pb2.LiteralMap(literals=items))


class UnionCodec(Codec):
    """A union literal names its variant's type (structure tag included), which must be one declared. None is
    written as the NONE variant, anything else as the first other one (the seeded tasks' unions are optional
    values: one variant and none)."""

    def read(self, literal: Any, literal_type: Any, path: str) -> Any:
        if _scalar_kind(literal) != "union":
            raise LiteralRefused(path, f"expected a union, got {_shape(literal)}")
        union = literal.scalar.union
        if union.type not in literal_type.union_type.variants:
            tag = union.type.structure.tag or "untagged"
            raise LiteralRefused(path, f"the union's type ({tag}) is none of its declared variants")
        return _codec(union.type, path).read(union.value, union.type, path)

    def write(self, value: Any, literal_type: Any, path: str) -> Any:
        variant = next(v for v in literal_type.union_type.variants if _is_none(v) == (value is None))
        union = literals_pb2.Union(value=_codec(variant, path).write(value, variant, path), type=variant)
        return Literal(scalar=literals_pb2.Scalar(union=union))


def _is_none(literal_type: Any) -> bool:
    return bool(literal_type.WhichOneof("type") == "simple" and literal_type.simple == types_pb2.NONE)


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


# The codec of each simple type the seeded tasks use, and of each other kind of LiteralType.
SIMPLE_CODECS: Mapping[int, Codec] = MappingProxyType(
    {
        types_pb2.INTEGER: PrimitiveCodec("integer"),
        types_pb2.FLOAT: PrimitiveCodec("float_value"),
        types_pb2.STRING: PrimitiveCodec("string_value"),
        types_pb2.BOOLEAN: PrimitiveCodec("boolean"),
        types_pb2.STRUCT: StructCodec(),
        types_pb2.NONE: NoneCodec(),
    }
)
KIND_CODECS: Mapping[str, Codec] = MappingProxyType(
    {"collection_type": CollectionCodec(), "map_value_type": MapCodec(), "union_type": UnionCodec()}
)
