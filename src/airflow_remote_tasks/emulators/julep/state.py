"""In-memory agents, tasks and executions, and the engine that walks an execution's steps."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from types import MappingProxyType
from typing import Any

from airflow_remote_tasks.emulators.julep.expressions import ExpressionError, evaluate, render

# Status from the latest transition's type, as the server's latest_executions view derives it.
STATUS_OF_TRANSITION: Mapping[str, str] = MappingProxyType(
    {
        "init": "starting",
        "init_branch": "running",
        "step": "running",
        "resume": "running",
        "finish_branch": "running",
        "wait": "awaiting_input",
        "finish": "succeeded",
        "error": "failed",
        "cancelled": "cancelled",
    }
)
TERMINAL = frozenset({"succeeded", "failed", "cancelled"})
SIMULATED_STEPS = ("prompt", "tool", "workflow", "get")
DEMO_AGENT_ID = "5e1f0000-0000-4000-8000-000000000001"


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class StepFailed(Exception):
    pass


@dataclass
class Execution:
    id: str
    task_id: str
    input: dict[str, Any]
    metadata: dict[str, Any]
    created_at: str = field(default_factory=now)
    transitions: list[dict[str, Any]] = field(default_factory=list)
    resume_input: asyncio.Future[dict[str, Any]] | None = None
    walker: asyncio.Task[None] | None = None
    # A status word reported in place of the real one (one the provider's table does not know, as a newer
    # server might send). Set through ``POST /_emulator/report-status``.
    reported_status: str = ""

    @property
    def status(self) -> str:
        if self.reported_status:
            return self.reported_status
        if not self.transitions:
            return "queued"
        return STATUS_OF_TRANSITION[self.transitions[-1]["type"]]

    @property
    def updated_at(self) -> str:
        return self.transitions[-1]["created_at"] if self.transitions else self.created_at

    def to_json(self) -> dict[str, Any]:
        latest = self.transitions[-1] if self.transitions else None
        output = latest["output"] if latest else None
        error = None
        if latest and latest["type"] == "error":
            error = (output or {}).get("error") if isinstance(output, dict) else str(output)
        return {
            "id": self.id,
            "task_id": self.task_id,
            "status": self.status,
            "input": self.input,
            "output": output,
            "error": error,
            "transition_count": len(self.transitions),
            "metadata": self.metadata,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }

    def status_event(self) -> dict[str, Any]:
        body = self.to_json()
        return {
            "execution_id": self.id,
            "status": body["status"],
            "updated_at": body["updated_at"],
            "error": body["error"],
            "transition_count": body["transition_count"],
            "metadata": self.metadata,
        }


class JulepState:
    def __init__(self, *, step_seconds: float = 0.2, sleep_scale: float = 0.01) -> None:
        self.step_seconds = step_seconds
        self.sleep_scale = sleep_scale
        created = now()
        self.agents: dict[str, dict[str, Any]] = {
            DEMO_AGENT_ID: {
                "id": DEMO_AGENT_ID,
                "name": "Airflow demo agent",
                "canonical_name": "airflow_demo_agent",
                "about": "Seeded by the emulator.",
                "model": "gpt-4o-mini",
                "instructions": [],
                "default_settings": {},
                "metadata": {},
                "created_at": created,
                "updated_at": created,
            }
        }
        self.tasks: dict[str, dict[str, Any]] = {}
        self.task_agent: dict[str, str] = {}
        self.executions: dict[str, Execution] = {}

    # -- executions ----------------------------------------------------------------------------

    def start(self, task: dict[str, Any], inputs: dict[str, Any], metadata: dict[str, Any]) -> Execution:
        execution = Execution(
            id=str(uuid.uuid4()), task_id=task["id"], input=inputs, metadata=dict(metadata or {})
        )
        self.executions[execution.id] = execution
        execution.walker = asyncio.get_running_loop().create_task(self._walk(execution, task))
        return execution

    def cancel(self, execution: Execution, reason: str | None) -> None:
        """The workflow records the cancellation a moment later, as the real server does."""
        if execution.walker is not None and not execution.walker.done():
            asyncio.get_running_loop().call_later(self.step_seconds / 4, execution.walker.cancel)

    def resume(self, execution: Execution, inputs: dict[str, Any]) -> None:
        if execution.resume_input is None or execution.resume_input.done():
            raise ValueError("execution is not awaiting input")
        execution.resume_input.set_result(inputs)

    def _record(
        self, execution: Execution, kind: str, output: Any, step: int, label: str | None = None
    ) -> None:
        stamp = now()
        transition = {
                "id": str(uuid.uuid4()),
                "execution_id": execution.id,
                "type": kind,
                "output": {} if output is None else output,  # the server's "no output"
                "current": {"workflow": "main", "step": step, "scope_id": execution.id},
                "next": None if kind in ("finish", "error", "cancelled", "wait") else {
                    "workflow": "main", "step": step + 1, "scope_id": execution.id
                },
                "metadata": {},
                "created_at": stamp,
                "updated_at": stamp,
        }  # fmt: skip
        if label:
            transition["step_label"] = label
        execution.transitions.append(transition)

    async def _walk(self, execution: Execution, task: dict[str, Any]) -> None:
        steps: list[dict[str, Any]] = []
        context: dict[str, Any] = {"_": execution.input, "steps": steps, "state": {}}
        index = 0
        try:
            await asyncio.sleep(self.step_seconds)
            self._record(execution, "init", execution.input, 0)
            main = task.get("main") or []
            last: Any = execution.input
            for index, step in enumerate(main):
                await asyncio.sleep(self.step_seconds)
                # steps[i].input is what step i received; steps[0].input is the execution's input.
                steps.append({"input": context["_"], "output": None})
                context.update(inputs=[s["input"] for s in steps], outputs=[s["output"] for s in steps[:-1]])
                if "return" in step:
                    last = render(step["return"], context)
                    break
                last = await self._run_step(execution, step, context, index)
                steps[-1]["output"] = last
                context["_"] = last
                if index < len(main) - 1:
                    self._record(execution, "step", last, index, step.get("label"))
            self._record(execution, "finish", last, index)
        except asyncio.CancelledError:
            self._record(execution, "cancelled", None, index)
        except (StepFailed, ExpressionError) as error:
            self._record(execution, "error", {"error": str(error)}, index)

    async def _run_step(
        self, execution: Execution, step: dict[str, Any], context: dict[str, Any], index: int
    ) -> Any:
        kind = next((k for k in step if k != "label"), "")
        if kind == "evaluate":
            return render(step["evaluate"], context)
        if kind == "log":
            return str(render(step["log"], context))
        if kind == "set":
            values = render(step["set"], context)
            context["state"].update(values)
            return values
        if kind == "error":
            raise StepFailed(str(render(step["error"], context)))
        if kind == "sleep":
            spec = step["sleep"] or {}
            seconds = sum(
                float(spec.get(unit, 0)) * factor
                for unit, factor in (("seconds", 1), ("minutes", 60), ("hours", 3600), ("days", 86400))
            )
            await asyncio.sleep(min(seconds * self.sleep_scale, 30.0))
            return None
        if kind == "wait_for_input":
            info = render((step["wait_for_input"] or {}).get("info", {}), context)
            execution.resume_input = asyncio.get_running_loop().create_future()
            self._record(execution, "wait", info, index, step.get("label"))
            answer = await execution.resume_input
            self._record(execution, "resume", answer, index, step.get("label"))
            return answer
        if kind == "if":
            branch = step["then"] if _truthy(step["if"], context) else step.get("else")
            return await self._run_step(execution, branch, context, index) if branch else None
        if kind == "switch":
            for case in step["switch"]:
                if case.get("case") == "_" or _truthy(case["case"], context):
                    return await self._run_step(execution, case["then"], context, index)
            return None
        if kind == "foreach":
            results = []
            for item in render(step["foreach"]["in"], context):
                results.append(
                    await self._run_step(execution, step["foreach"]["do"], {**context, "_": item}, index)
                )
            return results
        if kind == "parallel":
            return [await self._run_step(execution, branch, context, index) for branch in step["parallel"]]
        if kind == "over":
            return [
                await self._run_step(execution, step["map"], {**context, "_": item}, index)
                for item in render(step["over"], context)
            ]
        if kind in SIMULATED_STEPS:
            # No model or tool runs here: the step takes its time and answers with what it was asked.
            await asyncio.sleep(self.step_seconds)
            if kind == "prompt":
                prompt = render(step["prompt"], context)
                text = prompt if isinstance(prompt, str) else str(prompt[-1].get("content", ""))
                reply = f"[emulated reply] {text}"
                return reply if step.get("unwrap") else {
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": reply}}]
                }  # fmt: skip
            if kind == "tool":
                return {"tool": step["tool"], "arguments": render(step.get("arguments", {}), context)}
            if kind == "get":
                return context["state"].get(step["get"])
            return {"workflow": step["workflow"], "arguments": render(step.get("arguments", {}), context)}
        raise StepFailed(f"step {index}: the emulator does not run {kind!r} steps")

    def summary(self) -> list[dict[str, Any]]:
        return [
            {
                "id": e.id,
                "task_id": e.task_id,
                "status": e.status,
                "input": e.input,
                "output": e.to_json()["output"],
                "metadata": e.metadata,
                "transitions": [t["type"] for t in e.transitions],
            }
            for e in sorted(self.executions.values(), key=lambda e: e.created_at)
        ]


def _truthy(expression: Any, context: dict[str, Any]) -> bool:
    if isinstance(expression, str):
        return bool(evaluate(expression.lstrip("$"), context))
    return bool(expression)
