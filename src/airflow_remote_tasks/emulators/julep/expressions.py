"""Julep's ``$ expression`` strings, evaluated the way task steps use them, within a small safe subset of Python.

Names are the step context (``_``, ``steps``, ``inputs``, ``outputs``, ``state``); dict keys read as attributes
(``steps[0].input.topic``); a handful of builtins and the methods of plain values are callable. Nothing that
starts with an underscore can be reached through an attribute, and no import or assignment parses.
"""

from __future__ import annotations

import ast
import builtins
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

FUNCTIONS: Mapping[str, Any] = MappingProxyType({
    name: getattr(builtins, name)
    for name in (
        "abs", "all", "any", "bool", "dict", "enumerate", "float", "int", "len", "list", "max", "min",
        "range", "reversed", "round", "set", "sorted", "str", "sum", "tuple", "zip",
    )
})  # fmt: skip
ALLOWED_NODES = (
    ast.Expression, ast.BoolOp, ast.BinOp, ast.UnaryOp, ast.Compare, ast.IfExp, ast.Call, ast.keyword,
    ast.Name, ast.Load, ast.Attribute, ast.Subscript, ast.Slice, ast.Constant, ast.List, ast.Tuple,
    ast.Dict, ast.Set, ast.JoinedStr, ast.FormattedValue, ast.ListComp, ast.SetComp, ast.DictComp,
    ast.GeneratorExp, ast.comprehension, ast.Store, ast.operator, ast.unaryop, ast.cmpop, ast.boolop,
)  # fmt: skip


CLOSED_METHODS = frozenset({"format", "format_map"})


class ExpressionError(ValueError):
    pass


class Record(dict[str, Any]):
    """A dict whose keys also read as attributes, as in ``steps[0].input.topic``."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"no key {name!r}") from None


def wrap(value: Any) -> Any:
    if isinstance(value, Mapping):
        return Record({str(k): wrap(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return [wrap(v) for v in value]
    return value


def unwrap(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): unwrap(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [unwrap(v) for v in value]
    return value


def evaluate(expression: str, context: Mapping[str, Any]) -> Any:
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as error:
        raise ExpressionError(f"invalid expression {expression!r}: {error.msg}") from None
    for node in ast.walk(tree):
        if not isinstance(node, ALLOWED_NODES):
            raise ExpressionError(f"{type(node).__name__} is not allowed in {expression!r}")
        # str.format can reach attributes through its replacement fields, so it is closed too.
        if isinstance(node, ast.Attribute) and (node.attr.startswith("_") or node.attr in CLOSED_METHODS):
            raise ExpressionError(f"attribute {node.attr!r} is not allowed in {expression!r}")
    names = {key: wrap(value) for key, value in context.items()}
    try:
        return unwrap(eval(compile(tree, "<expression>", "eval"), {"__builtins__": dict(FUNCTIONS)}, names))
    except Exception as error:
        raise ExpressionError(f"{expression!r} failed: {type(error).__name__}: {error}") from None


def render(value: Any, context: Mapping[str, Any]) -> Any:
    """Evaluate every ``"$ ..."`` string inside ``value``; everything else is taken literally."""
    if isinstance(value, str):
        return evaluate(value[1:], context) if value.startswith("$") else value
    if isinstance(value, Mapping):
        return {key: render(item, context) for key, item in value.items()}
    if isinstance(value, list):
        return [render(item, context) for item in value]
    return value
