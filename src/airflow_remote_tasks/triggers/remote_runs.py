"""The trigger that waits on a set of runs selected by a selector, sharing listings with the other waits."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_remote_tasks.core.batching import jittered_sleep
from airflow_remote_tasks.core.errors import RemoteTaskError
from airflow_remote_tasks.core.executors import adrive
from airflow_remote_tasks.core.phases import parse_phases
from airflow_remote_tasks.core.set_wait import wait_for_runs
from airflow_remote_tasks.core.steps import astep_runner
from airflow_remote_tasks.hooks.base import RemoteTaskHook
from airflow_remote_tasks.triggers.remote_run import ahook_for, error_event, task_deadline


class RemoteRunsTrigger(BaseTrigger):
    """Polls the listing of ``selector`` on ``platform`` until enough runs are selected and all reached a
    target. Every argument is plain JSON, the selector included; never a credential. Yields one event: the
    :class:`~airflow_remote_tasks.core.waiting.SetOutcome`, or ``{"outcome": "error", ...}``.

    ``platform`` None (a sensor started in the triggerer, whose arguments were fixed when the DAG was parsed)
    is the platform of the connection's type. ``deadline`` is an instant (epoch seconds);
    ``deadline_from_task`` makes it the task instance's trigger timeout (see
    :func:`~airflow_remote_tasks.triggers.remote_run.task_deadline`)."""

    def __init__(
        self,
        conn_id: str,
        platform: str | None,
        selector: dict[str, Any],
        target_phases: list[str],
        min_count: int = 1,
        fail_on_failure: bool = True,
        poll_interval: float = 30.0,
        deadline: float | None = None,
        transient_error_budget: float = 600.0,
        deadline_from_task: bool = False,
    ) -> None:
        super().__init__()
        self.conn_id = conn_id
        self.platform = platform
        self.selector = dict(selector)
        self.target_phases = list(target_phases)
        self.min_count = int(min_count)
        self.fail_on_failure = bool(fail_on_failure)
        self.poll_interval = float(poll_interval)
        self.deadline = deadline
        self.transient_error_budget = float(transient_error_budget)
        self.deadline_from_task = bool(deadline_from_task)
        self._hook: RemoteTaskHook | None = None

    def serialize(self) -> tuple[str, dict[str, Any]]:
        kwargs: dict[str, Any] = {
            "conn_id": self.conn_id,
            "platform": self.platform,
            "selector": self.selector,
            "target_phases": self.target_phases,
            "min_count": self.min_count,
            "fail_on_failure": self.fail_on_failure,
            "poll_interval": self.poll_interval,
            "deadline": self.deadline,
            "transient_error_budget": self.transient_error_budget,
        }
        # Only a wait started in the triggerer has it: the rows of deferrals from the worker keep the kwargs
        # a triggerer running an older provider knows.
        if self.deadline_from_task:
            kwargs["deadline_from_task"] = True
        return f"{type(self).__module__}.{type(self).__qualname__}", kwargs

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            if self._hook is None:
                self._hook = await ahook_for(self.platform, self.conn_id)
            hook = self._hook
            platform = await hook.aplatform()
            outcome = await adrive(
                wait_for_runs(
                    platform,
                    platform.check_selector(self.selector),
                    poll_interval=self.poll_interval,
                    targets=parse_phases(self.target_phases),
                    min_count=self.min_count,
                    fail_on_failure=self.fail_on_failure,
                    deadline=task_deadline(self) if self.deadline_from_task else self.deadline,
                    transient_error_budget=self.transient_error_budget,
                    logger=self.log,
                ),
                astep_runner(
                    hook.arun,
                    jittered_sleep,
                    # Waits on one selector polling within half an interval of each other share a listing.
                    list_runs=lambda step: hook.alist_runs(step, fresh_for=self.poll_interval / 2),
                ),
            )
        except RemoteTaskError as error:
            yield TriggerEvent(error_event(error))
            return
        yield TriggerEvent(outcome.to_event())
