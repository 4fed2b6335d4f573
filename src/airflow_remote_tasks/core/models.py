"""Typed values that cross the boundary between a platform and the Airflow layer.

Everything here serializes to plain JSON, so it can travel in trigger kwargs, events,
``task_state_store`` rows and XCom without custom serde.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from airflow_remote_tasks.core.errors import InvalidInputsError, clip
from airflow_remote_tasks.core.phases import Phase


class RunRef(BaseModel):
    """Enough to find one remote run again, from any process."""

    model_config = ConfigDict(frozen=True)

    platform: str
    run_id: str = Field(description="The platform's own name or id of the run, as a person would search it.")
    scope: dict[str, Any] = Field(
        default_factory=dict,
        description="Where the run lives and what kind it is (org, project, flags...), as JSON values.",
    )
    url: str = ""

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def flag(self, name: str, default: bool) -> bool:
        """The scope's boolean ``name`` (``default`` when absent). A reference written by an earlier release
        (a trigger row deferred before an upgrade) holds it as the string ``"true"`` or ``"false"``."""
        value = self.scope.get(name, default)
        return value.strip().lower() == "true" if isinstance(value, str) else bool(value)


class RunOrigin(BaseModel):
    """The Airflow task instance a run is started for, and which of its runs this is."""

    model_config = ConfigDict(frozen=True)

    dag_id: str
    run_id: str
    task_id: str
    map_index: int = -1
    generation: int = Field(default=0, description="Counts the runs started for this task instance.")

    @property
    def key(self) -> str:
        """Unique per run to start: a resent submit with the same key must attach, not start another."""
        return "|".join(
            str(p) for p in (self.dag_id, self.run_id, self.task_id, self.map_index, self.generation)
        )

    @property
    def run_name(self) -> str:
        """The name of the run to start, derived from :attr:`key` (see :func:`run_name`)."""
        return run_name(self.key)


def run_name(key: str) -> str:
    """A deterministic name for the run started for ``key`` (a :attr:`RunOrigin.key`): ``"af-"`` and 20 hex
    digits of its SHA-256, so at most 30 characters and a DNS-1035 label whatever the key holds. A platform
    names the run with it, or finds the run by it, so a resent submit attaches."""
    return "af-" + hashlib.sha256(key.encode()).hexdigest()[:20]


class RunStatus(BaseModel):
    """One observation of a run. Immutable, so the runs of one answer that are in the same state share one."""

    model_config = ConfigDict(frozen=True)

    phase: Phase
    raw_phase: str = Field(description="The platform's own word for the phase.")
    # Clipped: a status travels in trigger events, the task log and the error raised.
    message: Annotated[str, AfterValidator(clip)] = ""
    error_kind: str = ""
    error_code: str = ""
    attempts: int = 0
    steps: int = Field(
        default=0, description="Progress events recorded so far (Julep transitions); 0 where none."
    )
    percent: float | None = Field(default=None, description="How far along, where the platform says.")

    @property
    def is_terminal(self) -> bool:
        return self.phase.is_terminal

    def describe(self) -> str:
        done = f", {self.percent:g}% done" if self.percent is not None and not self.is_terminal else ""
        text = f"{self.phase.value} ({self.raw_phase}{done})"
        if self.message:
            text += f": {self.message}"
        return text


class Progress(BaseModel):
    """Progress events of a run after a given count, as log lines."""

    lines: list[str] = Field(default_factory=list)
    seen: int = Field(default=0, description="How many events have now been read; pass it back next time.")


class InputSpec(BaseModel):
    """One input of a remote task's interface."""

    name: str
    type: str = Field(description="A readable rendering of the platform type, for error messages.")
    required: bool = True
    has_default: bool = False
    default: Any = None
    wire_type: Any = Field(default=None, description="The platform's own type description.")


class TaskInterface(BaseModel):
    """What a remote task takes and returns, as the platform describes it."""

    platform: str
    task: str
    version: str = ""
    inputs: list[InputSpec] = Field(default_factory=list)
    outputs: list[str] = Field(default_factory=list)
    wire: dict[str, Any] = Field(default_factory=dict, description="Platform data needed to start a run.")

    def describe_inputs(self) -> str:
        if not self.inputs:
            return "(this task takes no inputs)"
        rows = []
        for spec in self.inputs:
            note = " (optional)" if not spec.required else ""
            if spec.has_default:
                note = f" (default {spec.default!r})"
            rows.append(f"  {spec.name}: {spec.type}{note}")
        return "\n".join(rows)

    def inputs_refused(self, task: str, checked_against: str, problems: Iterable[str]) -> InvalidInputsError:
        """The error for inputs that do not match this task: ``task`` as the platform names it (``"Flyte task
        'x' (version v1)"``), what they were checked against (``"interface"``), each problem, and the inputs
        this task expects. Raised before anything is sent, so it says nothing was submitted."""
        return InvalidInputsError(
            f"Inputs for {task} do not match its {checked_against}; nothing was submitted.\n"
            + "\n".join(f"- {p}" for p in problems)
            + f"\nExpected inputs:\n{self.describe_inputs()}"
        )


class StreamedOutput(BaseModel):
    """What ``Platform.outputs`` answers for a run whose output is a stream of bytes (an export) rather than a
    value: the Airflow layer copies each stream with ``Platform.download`` to ``output_path``, chunk by chunk,
    and hands XCom a summary. Only a stream small enough for XCom is read inline, without ``output_path``."""

    run_id: str
    format: Literal["ndjson", "json", "binary"] = Field(
        default="ndjson", description="How to count its rows, and to read it inline."
    )
    sizes: dict[str, int | None] = Field(
        description="Stream name ('result', 'errors') -> total bytes where the platform says, else None."
    )
    rows: dict[str, int] = Field(
        default_factory=dict, description="Stream name -> lines (rows) where the platform announces them."
    )


class ListedRun(BaseModel):
    """One run of a listing (a set of runs selected by a selector), with its state."""

    run_id: str
    status: RunStatus
