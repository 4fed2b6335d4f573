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
            phases.add(Phase(name))
        except ValueError:
            valid = ", ".join(p.value for p in Phase)
            raise ValueError(f"Unknown phase {name!r}; use one of: {valid}.") from None
    return frozenset(phases)


# What a run that waits for input means to an operator or sensor: keep waiting, fail, or count as done.
OnPaused = Literal["wait", "fail", "succeed"]


def check_on_paused(value: str) -> OnPaused:
    if value not in get_args(OnPaused):
        raise ValueError(f"on_paused must be 'wait', 'fail' or 'succeed', not {value!r}.")
    return value  # type: ignore[return-value]


_unknown_words: set[tuple[str, str]] = set()


def phase_of_word(word: str, table: Mapping[str, Phase], what: str, hint: str = "") -> Phase:
    """Our phase for a platform's status word. A word the table does not know is logged once (per ``what``)
    and counts as not finished: never as success or failure, since the platform's words are often
    undocumented; the operator's timeout bounds such a wait."""
    phase = table.get(word)
    if phase is None:
        if (what, word) not in _unknown_words:
            _unknown_words.add((what, word))
            logging.getLogger(__name__).warning(
                "%s %r is not in the provider's table; waiting on as if not finished.%s", what, word, hint
            )
        phase = Phase.RUNNING
    return phase
