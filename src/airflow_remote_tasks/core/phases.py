"""The unified phase model every platform maps its own states onto."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from enum import Enum
from typing import Literal, get_args


class Phase(str, Enum):
    """Where a remote run is in its life, the same words for every platform."""

    QUEUED = "queued"
    RUNNING = "running"
    PAUSED = "paused"  # waiting on a human or on input
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    ABORTED = "aborted"
    TIMED_OUT = "timed_out"
    # The platform sent a status word the provider's table does not map: not finished, as far as is known.
    UNKNOWN = "unknown"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_PHASES

    @property
    def is_success(self) -> bool:
        return self is Phase.SUCCEEDED


TERMINAL_PHASES = frozenset({Phase.SUCCEEDED, Phase.FAILED, Phase.ABORTED, Phase.TIMED_OUT})
FAILURE_PHASES = frozenset({Phase.FAILED, Phase.ABORTED, Phase.TIMED_OUT})


def parse_phases(names: object) -> frozenset[Phase]:
    """Read phase names given by a DAG author; an unknown name gets an error that lists the valid ones."""
    if names is None:
        return TERMINAL_PHASES
    if isinstance(names, (str, Phase)):
        names = [names]
    phases = set()
    for name in names:  # type: ignore[attr-defined]
        try:
            phase = Phase(name)
        except ValueError:
            phase = Phase.UNKNOWN
        if phase is Phase.UNKNOWN:  # a word nobody mapped is no state to wait for
            valid = ", ".join(p.value for p in Phase if p is not Phase.UNKNOWN)
            raise ValueError(f"Unknown phase {name!r}; use one of: {valid}.")
        phases.add(phase)
    return frozenset(phases)


# What a run that waits for input means to an operator or sensor: keep waiting, fail, or count as done.
OnPaused = Literal["wait", "fail", "succeed"]


def check_on_paused(value: str) -> OnPaused:
    if value not in get_args(OnPaused):
        raise ValueError(f"on_paused must be 'wait', 'fail' or 'succeed', not {value!r}.")
    return value  # type: ignore[return-value]


def phase_of_word(word: str, table: Mapping[str, Phase], what: str = "", hint: str = "") -> Phase:
    """Our phase for a platform's status word (``what``: which status, e.g. "Avala task status"). A word the
    table does not know is :attr:`Phase.UNKNOWN`: never success or failure, since the platform's words are
    often undocumented; the waits count it as ``unknown`` and name the word once, and the operator's timeout
    bounds such a wait. ``hint`` says how to map a word (logged at debug level; the wait's warning is the one
    a person reads). Raises nothing."""
    phase = table.get(word)
    if phase is None:
        logging.getLogger(__name__).debug("%s %r is not in the provider's table.%s", what, word, hint)
        return Phase.UNKNOWN
    return phase
