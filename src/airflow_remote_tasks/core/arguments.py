"""Operator and sensor arguments, checked when the DAG is parsed: a bad one never reaches a run."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

from airflow_remote_tasks.core.errors import ConfigurationError


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
