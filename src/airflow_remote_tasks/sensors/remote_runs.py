"""RemoteRunsSensor: wait until every run in a set selected by the platform's own filters reaches a target."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from airflow.sdk import BaseSensorOperator, Context, PokeReturnValue
from airflow.sdk.configuration import conf

from airflow_remote_tasks.core import arguments
from airflow_remote_tasks.core.errors import ConfigurationError
from airflow_remote_tasks.core.phases import parse_phases
from airflow_remote_tasks.core.set_wait import ListingBudgetError, SetOutcome, wait_for_runs
from airflow_remote_tasks.registry import UsesRemoteHook
from airflow_remote_tasks.sensors import deadline
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

    Deferrable with a static ``select`` (no template, no XComArg in it), the sensor starts in the triggerer
    (``start_from_trigger``, on by default): the scheduler defers it with no worker process, and the trigger
    checks the selector before its first listing. A templated ``select`` defers from the worker once
    rendered and checked. Deferred either way, the wait ends at the first of ``timeout`` and
    ``execution_timeout`` to pass, both counted from the task's start, and the sensor fails naming it.

    The sensor never aborts a run: it started none of them.
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
        start_from_trigger: bool = True,
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
        # A template or an XComArg has its value only in the worker, when the task runs.
        self.start_from_trigger = start_from_trigger and deferrable and not deadline.holds_template(select)
        if self.start_from_trigger:
            # The trigger checks the selector on the connection's platform, before its first listing.
            self.start_trigger_args = deadline.start_trigger_args(
                self, self._trigger(None, self.select, deadline_from_task=True)
            )

    def _selector(self) -> dict[str, Any]:
        return self.hook.platform.check_selector(self.select)

    def execute(self, context: Context) -> Any:
        selector = self._checked = self._selector()  # checked once before waiting, in either mode
        if not self.deferrable:
            return super().execute(context)
        self.defer(
            trigger=self._trigger(
                self.hook.platform_name, selector, deadline=deadline.deadline(self, context)
            ),
            method_name="execute_complete",
            timeout=None,  # the trigger's deadline holds the sensor's limits, and says which one passed
        )

    def _trigger(self, platform: str | None, selector: dict[str, Any], **until: Any) -> RemoteRunsTrigger:
        """The sensor's wait in the triggerer, on ``platform`` (None: the connection's) until its deadline."""
        return RemoteRunsTrigger(
            conn_id=self.conn_id,
            platform=platform,
            selector=selector,
            target_phases=sorted(p.value for p in self.targets),
            min_count=self.min_count,
            fail_on_failure=self.fail_on_failure,
            poll_interval=self.poke_interval,
            transient_error_budget=self.transient_error_budget,
            **until,
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
            raise deadline.timed_out(self, self._not_reached())
        return outcome.model_dump(mode="json", exclude={"outcome"})

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Context) -> Any:
        return super().resume_execution(*deadline.resumed(next_method, next_kwargs), context)

    def trigger_timed_out(self, context: Context) -> Any:
        """Airflow's own trigger timeout passed before the trigger's event came: the same failure."""
        raise deadline.timed_out(self, self._not_reached())

    def _not_reached(self) -> str:
        return f"The runs of {json.dumps(self.select)} did not all reach {self._target_text()}"

    def _target_text(self) -> str:
        return " or ".join(sorted(p.value for p in self.targets))
