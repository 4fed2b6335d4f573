"""ResumeRunOperator: give a run that waits for input (Julep ``awaiting_input``) its input, then wait for it."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from airflow.sdk import Context

from airflow_remote_tasks.core.phases import Phase
from airflow_remote_tasks.operators.waits_for_run import WaitsForRun


class ResumeRunOperator(WaitsForRun):
    """Resume run ``run_id`` with ``inputs`` and wait for it like :class:`RemoteTaskOperator` does.

    A run that is no longer waiting (an earlier try resumed it) is not resumed twice: it is waited on.

    :param run_id: the run to resume, e.g. ``"{{ ti.xcom_pull('ask', key='run_id') }}"``.
    :param inputs: the input the run waits for.
    :param wait: wait for the run after resuming it (else return right away, with no outputs).

    The other arguments are :class:`~airflow_remote_tasks.operators.waits_for_run.WaitsForRun`'s.
    """

    template_fields: Sequence[str] = ("run_id", "inputs")
    template_fields_renderers = {"inputs": "json"}
    ui_color = "#fef7e0"

    def __init__(
        self, *, run_id: str, inputs: Mapping[str, Any] | None = None, wait: bool = True, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.run_id = run_id
        self.inputs = dict(inputs or {})
        self.wait = wait

    def execute(self, context: Context) -> Any:
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
        if not self.wait:
            return None
        deadline = time.time() + self.timeout if self.timeout is not None else None
        return self._wait(context, ref, deadline)
