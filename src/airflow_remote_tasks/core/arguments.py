"""Operator and sensor arguments, checked when the DAG is parsed: a bad one never reaches a run."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin

from airflow.sdk.definitions._internal.mixins import ResolveMixin
from pydantic import BaseModel, ValidationError

from airflow_remote_tasks.core.errors import ConfigurationError, InvalidInputsError, clip


def seconds(name: str, value: Any, *, positive: bool = True) -> float:
    """A duration given as seconds (int or float) or a ``timedelta``.

    :raises ConfigurationError: naming ``name`` when ``value`` is of another type, not finite, negative,
        or zero where ``positive``.
    """
    if isinstance(value, timedelta):
        number = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    else:
        raise ConfigurationError(
            f"{name} must be a number of seconds or a datetime.timedelta, not {value!r} "
            f"({type(value).__name__}); e.g. {name}=3600 or {name}=timedelta(hours=1)."
        )
    if not math.isfinite(number) or number < 0 or (positive and number == 0):
        wanted = "greater than 0" if positive else "0 or more"
        raise ConfigurationError(f"{name} must be {wanted} seconds, not {value!r}.")
    return number


def optional_seconds(name: str, value: Any) -> float | None:
    """Like :func:`seconds`, with ``None`` meaning "no limit"."""
    return None if value is None else seconds(name, value)


def count(name: str, value: Any, *, minimum: int = 0) -> int:
    """A whole number of at least ``minimum``.

    :raises ConfigurationError: naming ``name`` for anything else.
    """
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ConfigurationError(f"{name} must be a whole number of at least {minimum}, not {value!r}.")
    return value


def choice(name: str, value: Any, allowed: tuple[str, ...]) -> str:
    """One of ``allowed``.

    :raises ConfigurationError: naming ``name`` and the allowed values otherwise.
    """
    if value not in allowed:
        raise ConfigurationError(f"{name} must be one of {', '.join(map(repr, allowed))}, not {value!r}.")
    return str(value)


def mapping(name: str, value: Any) -> dict[str, Any]:
    """A mapping (``None``: empty), copied.

    :raises ConfigurationError: naming ``name`` for a list or anything else that is not a mapping.
    """
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigurationError(
            f"{name} must be a mapping of names to values, e.g. {name}={{'rows': [...]}}; got "
            f"{type(value).__name__}."
        )
    return dict(value)


def filled_at_run_time(value: Any) -> bool:
    """Whether Airflow gives a template field its value only when the task runs: an XComArg (``make()``,
    ``task.output``) or anything else Airflow resolves then, or a string holding a Jinja template."""
    return isinstance(value, ResolveMixin) or (isinstance(value, str) and ("{{" in value or "{%" in value))


def templated_mapping(name: str, value: Any) -> Any:
    """:func:`mapping` for a template field when the DAG is parsed: a value :func:`filled_at_run_time` is kept
    as it is, and checked with :func:`rendered_mapping` when the task runs.

    :raises ConfigurationError: as :func:`mapping`.
    """
    return value if filled_at_run_time(value) else mapping(name, value)


def rendered_mapping(name: str, value: Any) -> dict[str, Any]:
    """:func:`mapping` of a template field once Airflow rendered it (the start of ``execute``).

    :raises ConfigurationError: naming ``name`` and what it rendered to, when that is not a mapping.
    """
    if value is None or isinstance(value, Mapping):
        return mapping(name, value)
    raise ConfigurationError(
        f"{name} must be a mapping of names to values, but it rendered to a {type(value).__name__} when the "
        f"task ran. A template renders to a string unless the DAG sets render_template_as_native_obj=True; or "
        f"pass the upstream task's result itself, e.g. {name}=make()."
    )


# -- inputs checked by a model --------------------------------------------------------------------------

# What a value of a type is, in a user's words.
_SHAPES: dict[Any, str] = {
    str: "a string",
    int: "a whole number",
    float: "a number",
    bool: "true or false",
    dict: "a mapping",
    list: "a list",
    tuple: "a list",
    Any: "any value",
}
# A pydantic error about the value (not its type), in a user's words, from the error's context.
_VALUE_PROBLEMS: dict[str, Callable[[dict[str, Any]], str]] = {
    "greater_than_equal": lambda ctx: f"must be at least {ctx['ge']}",
    "greater_than": lambda ctx: f"must be more than {ctx['gt']}",
    "less_than_equal": lambda ctx: f"must be at most {ctx['le']}",
    "less_than": lambda ctx: f"must be less than {ctx['lt']}",
    "literal_error": lambda ctx: f"must be {ctx['expected']}",
    "string_too_short": lambda ctx: (
        "must not be empty" if ctx["min_length"] == 1 else f"must be at least {ctx['min_length']} characters"
    ),
    "string_too_long": lambda ctx: f"must be at most {ctx['max_length']} characters",
    "too_short": lambda ctx: f"must have at least {ctx['min_length']} items",
    "too_long": lambda ctx: f"must have at most {ctx['max_length']} items",
    "string_pattern_mismatch": lambda ctx: f"must match {ctx['pattern']}",
    "value_error": lambda ctx: str(ctx.get("error", "is not valid")),
}


def shape(annotation: Any) -> str:
    """``annotation`` in a user's words: ``list[dict[str, Any]] | str`` is "a list of mappings or a string"."""
    args = [a for a in get_args(annotation) if a is not type(None)]
    kind = get_origin(annotation)
    if kind in (Union, UnionType):
        return " or ".join(shape(a) for a in args)
    if kind is Literal:
        return "one of " + ", ".join(map(repr, args))
    if kind in (list, tuple, set, Sequence) and args and args[0] is not Any:
        item = shape(args[0])
        return f"a list of {item[2:]}s" if item.startswith("a ") else f"a list of values ({item})"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "a mapping"
    return _SHAPES.get(kind or annotation, getattr(annotation, "__name__", str(annotation)))


def invalid_inputs(error: ValidationError, model: type[BaseModel], what: str) -> InvalidInputsError:
    """``error`` (``model`` refused the inputs) as a user reads it: one line per input, e.g. ``inputs.rows must
    be a list of rows or the URI of an NDJSON file; got int``. The expected shape is the field's
    ``description`` when it has one, else its type in words. ``what`` starts the message ("Inputs for Avala
    job 'export'")."""
    problems: dict[str, str] = {}  # by input path: a union's members each report on the same input
    for item in error.errors():
        kind = item["type"]
        path, expected = _field_at(model, item["loc"])
        if kind == "extra_forbidden":
            path, expected = f"{path}.{item['loc'][-1]}", ""
        if path in problems:
            continue
        got = item.get("input")
        if kind == "missing":
            problems[path] = f"{path} is required" + (f": {expected}" if expected else "")
        elif kind == "extra_forbidden":
            problems[path] = f"{path} is not known here; leave it out or check its spelling"
        elif kind in _VALUE_PROBLEMS:
            problems[path] = (
                f"{path} {_VALUE_PROBLEMS[kind](item.get('ctx') or {})}; got {clip(repr(got), 80)}"
            )
        elif expected:
            problems[path] = f"{path} must be {expected}; got {type(got).__name__}"
        else:
            problems[path] = f"{path}: {item['msg']}; got {type(got).__name__}"
    # A union's members each explain the same value: the one that names a place inside it says most.
    inner = [p for p in problems if not any(o.startswith((f"{p}.", f"{p}[")) for o in problems)]
    lines = "\n".join(f"- {problems[path]}" for path in inner)
    return InvalidInputsError(f"{what} are not valid; nothing was started.\n{lines}")


def _field_at(model: type[BaseModel], loc: tuple[int | str, ...]) -> tuple[str, str]:
    """The input path of an error's location (``inputs.filters.workflow_status``, ``inputs.rows[2]``) and what
    belongs there in words: the innermost field's description, or its type (a list's item type past an
    index). A union member's tag in ``loc`` ends the path."""
    path, expected, annotation, current = "inputs", "", None, _model_in(model)
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
            items = [a for a in get_args(annotation) if get_origin(a) in (list, tuple, set, Sequence)]
            items = items or ([annotation] if get_origin(annotation) in (list, tuple, set, Sequence) else [])
            annotation = get_args(items[0])[0] if items and get_args(items[0]) else Any
            expected = shape(annotation)
            continue
        if current is None or part not in current.model_fields:
            continue  # a union member's tag, or a key of a mapping: not a place a user names
        field = current.model_fields[part]
        path += f".{part}"
        annotation = field.annotation
        expected = field.description or shape(annotation)
        current = _model_in(annotation)
    return path, expected


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model a value of ``annotation`` is (or holds, for a list or an optional one)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return next((m for m in map(_model_in, get_args(annotation)) if m is not None), None)
