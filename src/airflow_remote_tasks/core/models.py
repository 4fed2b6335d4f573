"""Typed values that cross the boundary between a platform and the Airflow layer.

Everything here serializes to plain JSON, so it can travel in trigger kwargs, events,
``task_state_store`` rows and XCom without custom serde.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from airflow_remote_tasks.core.phases import Phase


class RunRef(BaseModel):
    """Enough to find one remote run again, from any process."""

    model_config = ConfigDict(frozen=True)

    platform: str
    run_id: str = Field(description="The platform's own name or id of the run, as a person would search it.")
    scope: dict[str, str] = Field(default_factory=dict, description="Where the run lives (org, project...).")
    url: str = ""

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class RunStatus(BaseModel):
    """One observation of a run."""

    phase: Phase
    raw_phase: str = Field(description="The platform's own word for the phase.")
    message: str = ""
    error_kind: str = ""
    error_code: str = ""
    attempts: int = 0

    @property
    def is_terminal(self) -> bool:
        return self.phase.is_terminal

    def describe(self) -> str:
        text = f"{self.phase.value} ({self.raw_phase})"
        if self.message:
            text += f": {self.message}"
        return text


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
