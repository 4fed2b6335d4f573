"""RemoteRunsSensor: wait until every run in a set selected by the platform's own filters reaches a target."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from airflow.sdk import BaseSensorOperator, Context, PokeReturnValue
from airflow.sdk.configuration import conf

from airflow_remote_tasks.core import arguments
from airflow_remote_tasks.core.errors import ConfigurationError, RemoteRunError
from airflow_remote_tasks.core.phases import parse_phases
from airflow_remote_tasks.core.set_wait import ListingBudgetError, SetOutcome, wait_for_runs
from airflow_remote_tasks.registry import UsesRemoteHook
from airflow_remote_tasks.sensors.poking import poke_once
from airflow_remote_tasks.triggers.remote_run import raise_error_event
from airflow_remote_tasks.triggers.remote_runs import RemoteRunsTrigger


class RemoteRunsSensor(UsesRemoteHook, BaseSensorOperator):
    """Succeeds when at least ``min_count`` runs are selected by ``select`` and all reached ``target_phases``.

    :param select: the platform's own filters, plain JSON (Flyte: ``project``, ``domain``, ``task_name``,
        ``labels``); an unknown field fails the task before waiting, naming the valid ones.
    :param target_phases: the phases that count as done (default ``["succeeded"]``).
    :param min_count: how many runs must be selected at least (an empty set is not "all done").
    :param fail_on_failure: a selected run that failed fails the sensor (else it is waited past).
    :param transient_error_budget: seconds of consecutive transient errors tolerated.

    Returns (XCom) the counts by phase, the number of runs and their ids (the first 1,000).

    The log gets a line of counts by phase when it changes ("41/57 succeeded, 12 running, 4 unknown"), the
    same in every mode; runs that left the set since the last poll, with their count; each status word no
    table maps, once (such runs count as ``unknown``, not finished). A selector naming something the platform
    does not have fails at the first poll, without retries (:class:`~core.waiting.SelectorNotFoundError`).
    """

    template_fields: Sequence[str] = ("select",)
    template_fields_renderers = {"select": "json"}

    def __init__(
        self,
        *,
        conn_id: str,
        select: Mapping[str, Any],
        target_phases: Iterable[str] = ("succeeded",),
        min_count: int = 1,
        fail_on_failure: bool = True,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        transient_error_budget: float = 600.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        arguments.seconds("poke_interval", self.poke_interval)
        if not isinstance(select, Mapping):
            raise ConfigurationError(f"select must be a dict of the platform's filters, not {select!r}.")
        self.conn_id = conn_id
        self.select = dict(select)
        self.targets = parse_phases(list(target_phases))
        self.min_count = arguments.count("min_count", min_count)
        self.fail_on_failure = fail_on_failure
        self.deferrable = deferrable
        self.transient_error_budget = arguments.seconds(
            "transient_error_budget", transient_error_budget, positive=False
        )
        self._checked: dict[str, Any] | None = None  # the selector as execute checked it, for its pokes

    def _selector(self) -> dict[str, Any]:
        return self.hook.platform.check_selector(self.select)

    def execute(self, context: Context) -> Any:
        selector = self._checked = self._selector()  # checked once before waiting, in either mode
        if not self.deferrable:
            return super().execute(context)
        self.defer(
            trigger=RemoteRunsTrigger(
                conn_id=self.conn_id,
                platform=self.hook.platform_name,
                selector=selector,
                target_phases=sorted(p.value for p in self.targets),
                min_count=self.min_count,
                fail_on_failure=self.fail_on_failure,
                poll_interval=self.poke_interval,
                deadline=time.time() + self.timeout if self.timeout else None,
                transient_error_budget=self.transient_error_budget,
            ),
            method_name="execute_complete",
            timeout=None,
        )

    def poke(self, context: Context) -> Any:
        """One listing per poke: the set wait's procedure (the trigger's), stopped at its first sleep."""
        selector = self._checked
        assert selector is not None  # execute checks it before the first poke
        key = json.dumps(selector, sort_keys=True)

        def exceeded(failing_for: float, error: Exception) -> ListingBudgetError:
            return ListingBudgetError(key, failing_for, self.transient_error_budget, error)

        outcome: SetOutcome | None = poke_once(
            self,
            context,
            wait_for_runs,
            lambda: selector,
            targets=self.targets,
            min_count=self.min_count,
            fail_on_failure=self.fail_on_failure,
            what=ListingBudgetError.failing(key),
            exceeded=exceeded,
        )
        if outcome is None:
            return False
        return PokeReturnValue(is_done=True, xcom_value=outcome.model_dump(mode="json", exclude={"outcome"}))

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        raise_error_event(event, f"Waiting for the runs of {json.dumps(self.select)} failed")
        outcome = SetOutcome.model_validate(event)
        if outcome.outcome == "timeout":
            raise RemoteRunError(
                f"The runs of {json.dumps(self.select)} did not all reach {self._target_text()} in time.",
                phase="",
            )
        return outcome.model_dump(mode="json", exclude={"outcome"})

    def _target_text(self) -> str:
        return " or ".join(sorted(p.value for p in self.targets))
