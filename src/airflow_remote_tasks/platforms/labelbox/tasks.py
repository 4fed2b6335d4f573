"""Labelbox Task objects, what exports and upserts run as (``IN_PROGRESS`` -> ``COMPLETE`` / ``FAILED`` /
``CANCELED``): read by id among the key's user's tasks or the organization's, found by name, cancelled."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from airflow_remote_tasks.core.errors import NotFoundError
from airflow_remote_tasks.core.models import RunRef, RunStatus
from airflow_remote_tasks.core.operation import Operation
from airflow_remote_tasks.core.phases import Phase, phase_of_word
from airflow_remote_tasks.platforms.labelbox import PLATFORM, queries
from airflow_remote_tasks.platforms.labelbox.config import LabelboxConfig
from airflow_remote_tasks.platforms.labelbox.graphql import call

PHASES = {
    "IN_PROGRESS": Phase.RUNNING,
    "CANCELLING": Phase.RUNNING,  # two L's on the wire; the cancel is not done yet
    "COMPLETE": Phase.SUCCEEDED,
    "FAILED": Phase.FAILED,
    "CANCELED": Phase.ABORTED,
}
ENDED = frozenset({"COMPLETE", "FAILED", "CANCELED"})
VIA = ("user", "organization")  # where a task is looked for, in this order: the key's user's, then anyone's


def parse_task_status(task: Mapping[str, Any]) -> RunStatus:
    raw = str(task.get("status") or "UNKNOWN")
    phase = phase_of_word(raw, PHASES, "Labelbox task status")
    percent = task.get("completionPercentage")
    return RunStatus(
        phase=phase,
        raw_phase=raw,
        message=_failure_text(task) if phase is Phase.FAILED else "",
        percent=float(percent) if isinstance(percent, int | float) else None,
    )


def _failure_text(task: Mapping[str, Any]) -> str:
    # ``errors`` is a URL for most task types; some put a JSON error string in ``result``.
    for key in ("errors", "result"):
        value = task.get(key)
        if value:
            return f"{key}: {value}"
    return "Labelbox reported no error detail"


def task_ref(config: LabelboxConfig, task_id: str, *, via: str, url: str = "") -> RunRef:
    """A task's reference: ``via`` says where it is looked up (:data:`VIA`); ``url`` its link, else the task's."""
    return RunRef(
        platform=PLATFORM.name, run_id=task_id, scope={"via": via}, url=url or config.task_url(task_id)
    )


class Tasks:
    """The tasks one connection reaches, with what it reads once and keeps: its user's id, and the task types
    Labelbox can cancel."""

    def __init__(self, config: LabelboxConfig) -> None:
        self.config = config
        self._user_id = ""
        self._cancelable: frozenset[str] | None = None

    def user(self) -> Operation[str]:
        """The key's user's id, read at the first use."""
        if not self._user_id:
            self._user_id = str((yield from call(self.config, queries.GET_USER, {}))["user"]["id"])
        return self._user_id

    def named(self, name: str) -> Operation[dict[str, Any] | None]:
        """The key's user's task called ``name`` that has not failed or been cancelled, if any."""
        found = [task for task in (yield from self.created()) if task.get("name") == name]
        return found[0] if found else None

    def created(self) -> Operation[list[dict[str, Any]]]:
        """The key's user's tasks (the listing's first page) that have not failed or been cancelled."""
        user = yield from self.user()
        data = yield from call(self.config, queries.LIST_CREATED_TASKS, {"param_0": user})
        return [
            dict(task)
            for task in data["user"]["createdTasks"] or []
            if task.get("status") not in ("FAILED", "CANCELED")
        ]

    def get(self, task_id: str, via: str, *, pause: float = 0.0) -> Operation[dict[str, Any] | None]:
        """The task, among the key's user's (``via="user"``) or the organization's; None when it is not there.
        ``pause``: seconds to wait before reading it (it was still running at the last read)."""
        try:
            if via == "user":
                user = yield from self.user()
                variables = {"param_0": task_id, "param_1": user}
                data = yield from call(self.config, queries.GET_CREATED_TASK, variables, pause=pause)
                tasks = (data.get("user") or {}).get("createdTasks") or []
            else:
                data = yield from call(
                    self.config, queries.GET_ORGANIZATION_TASK, {"param_0": task_id}, pause=pause
                )
                tasks = (data.get("organization") or {}).get("tasks") or []
        except NotFoundError:
            return None
        match = [t for t in tasks if t.get("id") == task_id]
        return dict(match[0]) if match else None

    def of(self, ref: RunRef) -> Operation[dict[str, Any]]:
        """:raises NotFoundError: the task is gone."""
        task = yield from self.get(ref.run_id, ref.scope.get("via", "user"))
        if task is None:
            raise NotFoundError(f"Labelbox task {ref.run_id!r} is gone.", status=404, code="not_found")
        return task

    def find(self, run_id: str) -> Operation[RunRef]:
        """:raises NotFoundError: no task of the user's or the organization's has that id."""
        for via in VIA:
            task = yield from self.get(run_id, via)
            if task is not None:
                return task_ref(self.config, run_id, via=via)
        raise NotFoundError(
            f"No Labelbox task {run_id!r} among this key's user's tasks or the organization's.",
            status=404,
            code="not_found",
        )

    def cancel(self, ref: RunRef) -> Operation[bool]:
        """Cancel the task where Labelbox can (``cancelableTaskTypes``); False where it cannot, and it goes on.
        A task that is gone or ended is no error."""
        try:
            task = yield from self.of(ref)
        except NotFoundError:
            return True
        if task.get("status") in ENDED:
            return True
        if self._cancelable is None:
            types = (yield from call(self.config, queries.GET_CANCELABLE_TASK_TYPES, None))[
                "cancelableTaskTypes"
            ]
            self._cancelable = frozenset(_kebab(t) for t in types or [])
        if str(task.get("type", "")).lower() not in self._cancelable:
            return False
        if task.get("status") == "CANCELLING":
            return True
        # Cancelling twice asks for what is already asked: safe to repeat.
        yield from call(self.config, queries.CANCEL_TASK, {"id": ref.run_id}, idempotent=True)
        return True


def _kebab(name: str) -> str:
    """``exportDataRows`` / ``ExportDataRows`` -> ``export-data-rows``, as the SDK compares them."""
    return re.sub(r"(?<!^)(?=[A-Z])", "-", str(name)).lower().replace("_", "-")
