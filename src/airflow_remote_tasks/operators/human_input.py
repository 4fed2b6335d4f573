"""HumanInput: ask a person, in Airflow's human-in-the-loop UI, for the input a paused run waits for.

Built on the standard provider's HITL request (``upsert_hitl_detail``, the task parked in ``awaiting_input``
until an answer or the response timeout, the answer handed back as an event), as ``HITLOperator`` is; used by
:class:`~airflow_remote_tasks.operators.resume_run.ResumeRunOperator` (``ask=``), which resumes the run with
the answer.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal, get_args

from airflow.sdk.definitions.param import ParamsDict
from airflow.sdk.exceptions import ParamValidationError, TaskAwaitingInput
from airflow.sdk.execution_time.hitl import upsert_hitl_detail

from airflow_remote_tasks.core import arguments
from airflow_remote_tasks.core.errors import MAX_REMOTE_TEXT, ConfigurationError, PermanentError, clip
from airflow_remote_tasks.core.models import RunRef

OnReject = Literal["cancel", "fail"]
# The method a parked task resumes in once the person answered (or the response timeout passed).
ANSWERED = "answered"


@dataclass(frozen=True)
class Answer:
    """What the person chose: the option, the run's input for it (``None``: a rejection), who answered."""

    option: str
    inputs: dict[str, Any] | None
    by: str  # the responder's name; "" when the response timeout applied the default option

    def describe(self) -> str:
        return f"{self.option!r} chosen by {self.by}" if self.by else f"{self.option!r} (the default)"


class HumanInput:
    """What to ask a person when a run waits for input, and how the answer becomes the run's input.

    The request shows the run's prompt (what it waits for, and its link) in Airflow's **Required actions**;
    the person picks one of ``answers`` and fills in ``params``. The run is resumed with the operator's
    ``inputs``, updated with the chosen answer's input, then with the values of ``params`` (by name), then
    (``responder_input``) with the responder's name.

    :param answers: the options shown, each with the input it resumes the run with; ``None`` marks a
        rejection, e.g. ``{"Approve": {"approved": True}, "Reject": None}``.
    :param params: form fields, as DAG params (``Param`` or plain defaults), whose values go into the input.
    :param subject: the request's headline (default: which run waits for input).
    :param body: text (Markdown) shown above the run's prompt.
    :param on_reject: what a rejection does: ``"cancel"`` (default) cancels the run and skips this task (and
        so, by their trigger rules, the tasks after it), as the standard ``ApprovalOperator`` skips on
        "Reject"; ``"fail"`` fails this task without retries and leaves the run waiting for input.
    :param default: the answer taken when ``response_timeout`` passes with no answer; without one, the task
        then fails without retries and the run is left waiting.
    :param response_timeout: how long to wait for a person (seconds or a ``timedelta``; default: no limit).
        The run waits for input meanwhile.
    :param responder_input: an input name that gets the name of the person who answered (e.g. ``"reviewer"``).
    :param assigned_users: who may answer (``{"id": ..., "name": ...}`` or a list), as ``HITLOperator``.

    :raises ConfigurationError: when the DAG is parsed, naming the argument that cannot work.
    """

    def __init__(
        self,
        *,
        answers: Mapping[str, Mapping[str, Any] | None],
        params: ParamsDict | Mapping[str, Any] | None = None,
        subject: str | None = None,
        body: str | None = None,
        on_reject: OnReject = "cancel",
        default: str | None = None,
        response_timeout: timedelta | float | None = None,
        responder_input: str | None = None,
        assigned_users: Mapping[str, str] | list[Mapping[str, str]] | None = None,
    ) -> None:
        self.answers = _answers(answers)
        self.params = params if isinstance(params, ParamsDict) else ParamsDict(dict(params or {}))
        if "_options" in self.params:  # the name Airflow's HITL form keeps for the options
            raise ConfigurationError("params must not name '_options': Airflow's request form uses it.")
        self.subject = subject
        self.body = body
        self.on_reject: OnReject = arguments.choice("on_reject", on_reject, get_args(OnReject))  # type: ignore[assignment]
        if default is not None and default not in self.answers:
            raise ConfigurationError(
                f"default must be one of answers ({_listed(self.answers)}), not {default!r}."
            )
        self.default = default
        timeout = arguments.optional_seconds("response_timeout", response_timeout)
        self.response_timeout = None if timeout is None else timedelta(seconds=timeout)
        if responder_input is not None and (not isinstance(responder_input, str) or not responder_input):
            raise ConfigurationError(f"responder_input must be an input name, not {responder_input!r}.")
        self.responder_input = responder_input
        users = [assigned_users] if isinstance(assigned_users, Mapping) else assigned_users
        self.assigned_users = [dict(user) for user in users] if users else None

    @property
    def serialized_params(self) -> dict[str, dict[str, Any]]:
        """The form fields as the HITL request stores them (``HITLOperator.serialized_params``)."""
        return {name: self.params.get_param(name).serialize() for name in self.params}

    def ask(self, ti_id: Any, ref: RunRef, waiting_for: Any, platform_label: str) -> TaskAwaitingInput:
        """Write the request for the task instance ``ti_id``; the exception that parks the task until an
        answer comes (raise it), which resumes the operator's :data:`ANSWERED` method."""
        upsert_hitl_detail(
            ti_id=ti_id,
            options=list(self.answers),
            subject=self.subject or f"{platform_label} run {ref.run_id} waits for input",
            body=prompt(self.body, ref, waiting_for),
            defaults=None if self.default is None else [self.default],
            multiple=False,  # the run takes one input: one answer
            params=self.serialized_params,
            assigned_users=self.assigned_users,  # type: ignore[arg-type]
        )
        return TaskAwaitingInput(method_name=ANSWERED, timeout=self.response_timeout)

    def answer_of(self, event: Mapping[str, Any], ref: RunRef) -> Answer:
        """The answer in the event that resumed the task, checked; values of ``params`` are checked against
        their schema, and never quoted.

        :raises PermanentError: the response timeout passed with no answer and no default, or the answer does
            not fit the request (the run was not resumed, and still waits).
        """
        if "error" in event:
            raise PermanentError(
                f"No answer came for run {ref.run_id}: {event['error']} The run was not resumed and still waits "
                f"for input; clear this task to ask again. {ref.url}".rstrip()
            )
        chosen = list(event.get("chosen_options") or [])
        if len(chosen) != 1 or chosen[0] not in self.answers:
            raise PermanentError(
                f"The answer chose {chosen!r}, not one of {_listed(self.answers)}; run {ref.run_id} was not "
                "resumed and still waits for input."
            )
        values = dict(event.get("params_input") or {})
        unknown = sorted(set(values) - set(self.params))
        if unknown:
            raise PermanentError(
                f"The answer filled in {', '.join(unknown)}, which the request does not ask for; run "
                f"{ref.run_id} was not resumed and still waits for input."
            )
        params = copy.deepcopy(self.params)  # the operator's own stay as declared, for the next try
        filled: dict[str, Any] = {}
        for name in params:
            try:
                if name in values:
                    params[name] = values[name]
                filled[name] = params[name]
            except ParamValidationError:
                # The schema's message quotes the value, which may be private: only the field is named.
                raise PermanentError(
                    f"The answer's {name!r} is missing or does not match its schema; run {ref.run_id} was not "
                    "resumed and still waits for input."
                ) from None
        responder = event.get("responded_by_user") or {}
        by = str(responder.get("name") or responder.get("id") or "") if isinstance(responder, Mapping) else ""
        option = chosen[0]
        given = self.answers[option]
        if given is None:
            return Answer(option, None, by)
        inputs = {**given, **filled}
        if self.responder_input:
            inputs[self.responder_input] = by
        return Answer(option, inputs, by)


def prompt(text: str | None, ref: RunRef, waiting_for: Any) -> str:
    """The request's body (Markdown): ``text``, the run and its link, and what the run waits for, one line a
    field (a value that is not text as JSON), cut to a few KB as all remote text is."""
    run = f"[`{ref.run_id}`]({ref.url})" if ref.url else f"`{ref.run_id}`"
    lines = [text, ""] if text else []
    lines.append(f"Run {run} waits for input.")
    if isinstance(waiting_for, Mapping) and waiting_for:
        lines.append("")
        lines += [f"- **{key}**: {_shown(value)}" for key, value in waiting_for.items()]
    elif waiting_for not in (None, {}, ""):
        lines += ["", f"```\n{json.dumps(waiting_for, indent=2, default=str)}\n```"]
    return clip("\n".join(lines), MAX_REMOTE_TEXT)


def _shown(value: Any) -> str:
    if isinstance(value, str):
        return " ".join(value.split())  # one line: a line break would end the list item
    return f"`{json.dumps(value, default=str, sort_keys=True)}`"


def _answers(value: Any) -> dict[str, dict[str, Any] | None]:
    if not isinstance(value, Mapping) or not value:
        raise ConfigurationError(
            "answers must map each option shown to the input it gives the run (None for a rejection), e.g. "
            "answers={'Approve': {'approved': True}, 'Reject': None}."
        )
    answers: dict[str, dict[str, Any] | None] = {}
    for option, given in value.items():
        if not isinstance(option, str) or not option:
            raise ConfigurationError(f"answers' options must be non-empty strings, not {option!r}.")
        answers[option] = None if given is None else arguments.mapping(f"answers[{option!r}]", given)
    if all(given is None for given in answers.values()):
        raise ConfigurationError(
            "answers must give at least one option an input: every option is a rejection."
        )
    return answers


def _listed(answers: Mapping[str, Any]) -> str:
    return ", ".join(map(repr, answers))
