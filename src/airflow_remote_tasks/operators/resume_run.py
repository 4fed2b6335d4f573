"""ResumeRunOperator: give a run that waits for input (Julep ``awaiting_input``) its input, then wait for it;
with ``ask``, the input comes from a person answering in Airflow's human-in-the-loop UI."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from airflow.sdk import Context
from airflow.sdk.exceptions import AirflowSkipException

from airflow_remote_tasks.core import arguments
from airflow_remote_tasks.core.declaration import Capability
from airflow_remote_tasks.core.errors import ConfigurationError, PermanentError
from airflow_remote_tasks.core.models import RunRef
from airflow_remote_tasks.core.phases import Phase
from airflow_remote_tasks.operators.human_input import HumanInput
from airflow_remote_tasks.operators.waits_for_run import WaitsForRun, try_started

# task_state_store: the run a try of this task instance resumed, so that a retry waits on it instead of
# taking it for a run that was never paused.
RESUMED_KEY = "resumed_run"
# task_state_store: when this task resumed the run after a person answered. The task's execution_timeout counts
# from then: Airflow gives a task resumed from awaiting_input the try's first start, and the time a person
# takes to answer is no time the run spent.
RESUMED_AT_KEY = "resumed_at"
ANSWER_KEY = "answer"  # XCom: which answer was given, and by whom (never the values filled in)


class ResumeRunOperator(WaitsForRun):
    """Resume run ``run_id`` with ``inputs`` and wait for it like :class:`RemoteTaskOperator` does.

    A run that is no longer waiting (an earlier try resumed it) is not resumed twice: it is waited on.

    :param run_id: the run to resume, e.g. ``"{{ ti.xcom_pull('ask', key='run_id') }}"``.
    :param inputs: the input the run waits for (with ``ask``: the part of it no person gives).
    :param wait: wait for the run after resuming it (else return right away, with no outputs).
    :param ask: a :class:`~airflow_remote_tasks.operators.human_input.HumanInput`: show the run's prompt in
        Airflow's Required actions and resume it with the answer (see there for rejections and timeouts).
        The run must be waiting for input when the task starts, on a platform whose runs can be resumed;
        otherwise the task fails without retries and asks nothing.

    The other arguments are :class:`~airflow_remote_tasks.operators.waits_for_run.WaitsForRun`'s.
    """

    template_fields: Sequence[str] = ("run_id", "inputs")
    template_fields_renderers = {"inputs": "json"}
    ui_color = "#fef7e0"

    def __init__(
        self,
        *,
        run_id: str,
        inputs: Mapping[str, Any] | None = None,
        wait: bool = True,
        ask: HumanInput | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.run_id = run_id
        self.inputs = arguments.templated_mapping("inputs", inputs)
        self.wait = wait
        if ask is not None and not isinstance(ask, HumanInput):
            raise ConfigurationError(f"ask must be a HumanInput(answers=...), not {type(ask).__name__}.")
        self.ask = ask

    def execute(self, context: Context) -> Any:
        self.inputs = arguments.rendered_mapping("inputs", self.inputs)
        if self.ask is not None:
            return self._ask(context, self.ask)
        platform = self.hook.platform
        ref = self.hook.find_run(self.run_id)
        status = self.hook.run(platform.status(ref))
        if status.phase is Phase.PAUSED:
            self.hook.run(platform.resume(ref, self.inputs))
            self.log.info("Resumed run %s with inputs %s", ref.run_id, sorted(self.inputs))
        else:
            self.log.info(
                "Run %s is %s, not waiting for input: not resuming it.", ref.run_id, status.describe()
            )
        return self._after_resume(context, ref)

    def _run_started(self, context: Context) -> float:
        """Where the task's ``execution_timeout`` counts from: the resume that followed a person's answer, else
        this try's start."""
        resumed_at = context["task_state_store"].get(RESUMED_AT_KEY) if self.ask is not None else None
        return float(resumed_at) if isinstance(resumed_at, (int, float)) else try_started(context)

    def _after_resume(self, context: Context, ref: RunRef) -> Any:
        if not self.wait:
            return None
        deadline = time.time() + self.timeout if self.timeout is not None else None
        return self._wait(context, ref, deadline)

    def _ask(self, context: Context, ask: HumanInput) -> Any:
        """Check the run waits for input, then park this task until a person answers (:meth:`answered`).

        :raises ConfigurationError: the platform's runs cannot be resumed. :raises PermanentError: the run is
            not waiting for input (and no earlier try of this task resumed it).
        """
        platform = self.hook.platform
        if Capability.RESUME not in platform.declaration.capabilities:
            raise platform.cannot(Capability.RESUME)
        ref = self.hook.find_run(self.run_id)
        status = self.hook.run(platform.status(ref))
        if status.phase is not Phase.PAUSED:
            if context["task_state_store"].get(RESUMED_KEY) == ref.run_id:
                self.log.info(
                    "Run %s was resumed by an earlier try (%s); waiting on it.", ref.run_id, status.describe()
                )
                return self._after_resume(context, ref)
            raise PermanentError(
                f"Run {ref.run_id} is {status.describe()}, not waiting for input: there is nothing to ask. "
                f"Nothing was asked or sent. {ref.url}".rstrip()
            )
        waiting_for = self.hook.run(platform.outputs(ref))
        self.log.info("Run %s waits for input; asking in Airflow's Required actions. %s", ref.run_id, ref.url)
        raise ask.ask(context["task_instance"].id, ref, waiting_for, platform.declaration.label)

    def answered(self, context: Context, event: dict[str, Any]) -> Any:
        """A person answered (or the response timeout passed): resume the run with the answer, cancel it, or
        fail, as ``ask`` says; then wait for the run.

        :raises PermanentError: no answer, an answer that does not fit, a rejection with ``on_reject="fail"``,
            or a run that no longer waits for input (it is then not resumed).
        :raises AirflowSkipException: a rejection with ``on_reject="cancel"``, once the run was asked to stop.
        """
        ask = self.ask
        assert ask is not None  # only a task with ask= parks in awaiting_input
        self.inputs = arguments.rendered_mapping("inputs", self.inputs)
        platform = self.hook.platform
        ref = self.hook.find_run(self.run_id)
        answer = ask.answer_of(event, ref)
        context["ti"].xcom_push(key=ANSWER_KEY, value={"option": answer.option, "by": answer.by or None})
        status = self.hook.run(platform.status(ref))
        if status.phase is not Phase.PAUSED:
            raise PermanentError(
                f"Run {ref.run_id} is {status.describe()}, no longer waiting for input: the answer "
                f"({answer.describe()}) was not sent. {ref.url}".rstrip()
            )
        if answer.inputs is None:
            if ask.on_reject == "fail":
                raise PermanentError(
                    f"Rejected: {answer.describe()}. Run {ref.run_id} was left waiting for input. {ref.url}".rstrip()
                )
            self.hook.run(platform.abort(ref, f"Rejected in Airflow: {answer.describe()}."))
            self.log.info("Rejected (%s): run %s was cancelled.", answer.describe(), ref.run_id)
            raise AirflowSkipException(f"Rejected: {answer.describe()}; run {ref.run_id} was cancelled.")
        inputs = {**self.inputs, **answer.inputs}
        # Noted before the send: a try that dies after it waits on the run when retried, instead of failing.
        context["task_state_store"].set(RESUMED_KEY, ref.run_id)
        context["task_state_store"].set(RESUMED_AT_KEY, time.time())
        self.hook.run(platform.resume(ref, inputs))
        # The names only: the values a person typed may be private.
        self.log.info("Resumed run %s with %s: inputs %s", ref.run_id, answer.describe(), sorted(inputs))
        return self._after_resume(context, ref)
