"""Flyte runs: starting one (CreateRun), finding, reading and stopping it, and its phases."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow_remote_tasks.core.errors import AlreadyExistsError, ApiError, NotFoundError
from airflow_remote_tasks.core.models import RunOrigin, RunRef, RunStatus, TaskInterface
from airflow_remote_tasks.core.operation import Operation, starting_run
from airflow_remote_tasks.core.phases import Phase, phase_of_word
from airflow_remote_tasks.platforms.flyte.api import DATA_PROXY, ROOT_ACTION, RUN_SERVICE, FlyteApi

PHASES: dict[str, Phase] = {
    "ACTION_PHASE_UNSPECIFIED": Phase.QUEUED,
    "ACTION_PHASE_QUEUED": Phase.QUEUED,
    "ACTION_PHASE_WAITING_FOR_RESOURCES": Phase.QUEUED,
    "ACTION_PHASE_INITIALIZING": Phase.RUNNING,
    "ACTION_PHASE_RUNNING": Phase.RUNNING,
    "ACTION_PHASE_SUCCEEDED": Phase.SUCCEEDED,
    "ACTION_PHASE_FAILED": Phase.FAILED,
    "ACTION_PHASE_ABORTED": Phase.ABORTED,
    "ACTION_PHASE_TIMED_OUT": Phase.TIMED_OUT,
    "ACTION_PHASE_PAUSED": Phase.PAUSED,
    "ACTION_PHASE_RECOVERED": Phase.SUCCEEDED,  # reused from an earlier run: success
}
PHASE_NAMES = list(PHASES)  # the enum's numbers are the list positions
# A failure whose message the listing leaves out: read alone (GetRunDetails, then GetActionDetails).
FAILURES = (Phase.FAILED, Phase.TIMED_OUT)


def phase_name(value: object) -> str:
    """Enum names come as strings; integers are accepted too (proto3 JSON allows both)."""
    if isinstance(value, int):
        return PHASE_NAMES[value] if 0 <= value < len(PHASE_NAMES) else f"ACTION_PHASE_{value}"
    return str(value or "ACTION_PHASE_UNSPECIFIED")


def submit(
    api: FlyteApi,
    interface: TaskInterface,
    wire_inputs: dict[str, Any],
    *,
    origin: RunOrigin,
    labels: Mapping[str, str],
    env: Mapping[str, str],
    upload_inputs: bool,
) -> Operation[RunRef]:
    """CreateRun named after ``origin.key`` (inputs inline, or first uploaded when ``upload_inputs``).

    The name is the idempotency key: a CreateRun sent again (a retry after a lost answer, a later try of the
    task) is answered AlreadyExists, and the run it names is attached to.

    :raises RemoteTaskError: what the calls raise (an unknown task, refused credentials, ...).
    """
    ref = api.ref_for(origin.run_name)
    run_id = api.run_id(ref)
    request: dict[str, Any] = {"runId": run_id, "taskId": interface.wire["taskId"]}
    run_spec: dict[str, Any] = {}
    if labels:
        run_spec["labels"] = {"values": dict(labels)}
    if env:
        run_spec["envs"] = {"values": [{"key": k, "value": v} for k, v in env.items()]}
    if run_spec:
        request["runSpec"] = run_spec
    if upload_inputs:
        base = yield from api.select_cluster("OPERATION_UPLOAD_INPUTS", {"projectId": api.project_id})
        upload = {"runId": run_id, "taskId": interface.wire["taskId"], "inputs": wire_inputs}
        uploaded = yield from api.on_data_plane(
            base,
            lambda refused: api.call(f"{DATA_PROXY}/UploadInputs", upload, base=base, refused=refused),
        )
        request["offloadedInputData"] = uploaded.get("offloadedInputData", {})
    else:
        request["inputs"] = wire_inputs
    try:
        created = yield from starting_run(api.call(f"{RUN_SERVICE}/CreateRun", request))
    except AlreadyExistsError:
        return ref  # an earlier try (or a lost response) started it: attach
    action = created.get("run", {}).get("action", {}).get("id", {}).get("name") or ROOT_ACTION
    return api.ref_for(ref.run_id, action)


def find_run(api: FlyteApi, run_id: str) -> Operation[RunRef]:
    """:raises NotFoundError: no run of that name in the connection's project and domain."""
    ref = api.ref_for(run_id)
    try:
        yield from api.call(f"{RUN_SERVICE}/GetRunDetails", {"runId": api.run_id(ref)})
    except NotFoundError:
        c = api.config
        raise NotFoundError(
            f"No Flyte run named {run_id!r} in project {c.project!r}, domain {c.domain!r}.",
            status=404,
            code="not_found",
        ) from None
    return ref


def status(api: FlyteApi, ref: RunRef) -> Operation[RunStatus]:
    """GetRunDetails; for a failure it leaves unexplained, GetActionDetails too. Raises what the calls raise."""
    body = yield from api.call(f"{RUN_SERVICE}/GetRunDetails", {"runId": api.run_id(ref)})
    status = parse_action_status(body.get("details", {}).get("action", {}))
    if status.phase in FAILURES and not status.message:
        # Union may leave the root action's error out of GetRunDetails; the action details carry it.
        details = yield from api.call(f"{RUN_SERVICE}/GetActionDetails", {"actionId": api.action_id(ref)})
        status = parse_action_status(details.get("details", {}))
    return status


def statuses(api: FlyteApi, refs: Sequence[RunRef]) -> Operation[dict[str, RunStatus]]:
    """ListRuns filtered to the runs' names, one call per project. A failure's message is not in the
    listing, so failed runs are left out here and read with :func:`status`. Raises what the calls raise."""
    by_project: dict[tuple[str, str, str], list[str]] = {}
    for ref in refs:
        scope = ref.scope
        key = (scope.get("org", ""), scope["project"], scope["domain"])
        by_project.setdefault(key, []).append(ref.run_id)
    found: dict[str, RunStatus] = {}
    # Thousands of waits each hold the status of their last poll: runs in the same state share one object.
    alike: dict[tuple[Any, ...], RunStatus] = {}
    for (org, project, domain), names in by_project.items():
        body = yield from api.call(
            f"{RUN_SERVICE}/ListRuns",
            {
                "projectId": {"organization": org, "name": project, "domain": domain},
                "request": {
                    "limit": len(names),
                    "filters": [{"function": "VALUE_IN", "field": "run_name", "values": names}],
                },
            },
        )
        for run in body.get("runs", []):
            status = parse_action_status(run.get("action", {}), alike)
            if status.phase in FAILURES and not status.message:
                continue
            found[listed_name(run)] = status
    return found


def abort(api: FlyteApi, ref: RunRef, reason: str) -> Operation[bool]:
    """AbortRun; a run that is gone or already finished is not an error. Raises any other refusal."""
    try:
        yield from api.call(f"{RUN_SERVICE}/AbortRun", {"runId": api.run_id(ref), "reason": reason})
    except NotFoundError:
        return True
    except ApiError as error:
        if error.code != "failed_precondition":  # already terminal
            raise
    return True


def listed_name(run: Mapping[str, Any]) -> str:
    """The run name of a ListRuns entry."""
    return str(run.get("action", {}).get("id", {}).get("run", {}).get("name", ""))


def parse_action_status(
    action: dict[str, Any], alike: dict[tuple[Any, ...], RunStatus] | None = None
) -> RunStatus:
    """The status of an action; the one in ``alike`` when a status equal to it is there (else it is added)."""
    status = action.get("status", {})
    raw = phase_name(status.get("phase"))
    error = action.get("errorInfo") or {}
    attempts = action.get("attempts") or []
    if not error and attempts:
        error = attempts[-1].get("errorInfo") or {}
    abort = action.get("abortInfo") or {}
    fields = (
        raw,
        str(error.get("message") or abort.get("reason") or ""),
        str(error.get("kind", "")),
        str(error.get("code", "")),
        int(status.get("attempts") or 0),
    )
    shared = alike.get(fields) if alike is not None else None
    if shared is not None:
        return shared
    raw, message, kind, code, tries = fields
    parsed = RunStatus(
        phase=phase_of_word(raw, PHASES, "Flyte action phase"),
        raw_phase=raw,
        message=message,
        error_kind=kind,
        error_code=code,
        attempts=tries,
    )
    if alike is not None:
        alike[fields] = parsed
    return parsed
