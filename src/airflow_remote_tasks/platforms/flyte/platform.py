"""Flyte 2 / Union: every operation the provider needs, as request builders and response parsers."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from airflow_remote_tasks.core.auth import authorized
from airflow_remote_tasks.core.errors import (
    AlreadyExistsError,
    ApiError,
    ConfigurationError,
    InvalidInputsError,
    NotFoundError,
    UnexpectedAnswerError,
)
from airflow_remote_tasks.core.models import (
    InputSpec,
    ListedRun,
    Progress,
    RunOrigin,
    RunRef,
    RunStatus,
    TaskInterface,
)
from airflow_remote_tasks.core.operation import Operation, Sink, StreamLimits, answer, origin, starting_run
from airflow_remote_tasks.core.paging import Page, all_pages
from airflow_remote_tasks.core.phases import Phase, phase_of_word
from airflow_remote_tasks.core.transport import ClientSettings
from airflow_remote_tasks.platforms.flyte import connect, literals
from airflow_remote_tasks.platforms.flyte.auth import FlyteAuth
from airflow_remote_tasks.platforms.flyte.config import FlyteConfig

T = TypeVar("T")

RUN_SERVICE = "flyteidl2.workflow.RunService"
TASK_SERVICE = "flyteidl2.task.TaskService"
DATA_PROXY = "flyteidl2.dataproxy.DataProxyService"
GET_PROJECT = "flyteidl2.project.ProjectService/GetProject"
SELECT_CLUSTER = "flyteidl2.cluster.ClusterService/SelectCluster"
ROOT_ACTION = "a0"
# A run name the connection test looks up to see Connect's not_found: run_name() never makes it (its names are
# "af-" and hex digits), nor does the server ("r" and 19 characters).
PROBE_RUN = "airflow-connection-check"

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


def phase_name(value: object) -> str:
    """Enum names come as strings; integers are accepted too (proto3 JSON allows both)."""
    if isinstance(value, int):
        return PHASE_NAMES[value] if 0 <= value < len(PHASE_NAMES) else f"ACTION_PHASE_{value}"
    return str(value or "ACTION_PHASE_UNSPECIFIED")


def run_name(idempotency_key: str) -> str:
    """A deterministic run name: at most 30 characters, a DNS-1035 label, whatever the key holds."""
    return "af-" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:20]


class FlytePlatform:
    name = "flyte"
    status_batch_limit = 200  # ListRuns' largest page

    def __init__(
        self,
        config: FlyteConfig,
        *,
        upload_inputs: bool = False,
        client_settings: ClientSettings | None = None,
    ) -> None:
        self.config = config
        self.upload_inputs = upload_inputs
        self.auth = None if config.auth_mode == "none" else FlyteAuth(config)
        self.client_settings = client_settings or ClientSettings()
        self.api_origin = config.endpoint  # the only origin credentials go to (core.auth)
        self._known_projects: set[tuple[str, str]] = set()  # (project, domain) seen to exist

    # -- identifiers ---------------------------------------------------------------------------

    @property
    def _project_id(self) -> dict[str, str]:
        return {"organization": self.config.org, "name": self.config.project, "domain": self.config.domain}

    def _run_id(self, ref: RunRef) -> dict[str, str]:
        scope = ref.scope
        return {
            "org": scope.get("org", ""),
            "project": scope["project"],
            "domain": scope["domain"],
            "name": ref.run_id,
        }

    def _action_id(self, ref: RunRef) -> dict[str, Any]:
        return {"run": self._run_id(ref), "name": ref.scope.get("action", ROOT_ACTION)}

    def ref_for(self, name: str, action: str = ROOT_ACTION) -> RunRef:
        c = self.config
        return RunRef(
            platform=self.name,
            run_id=name,
            scope={"org": c.org, "project": c.project, "domain": c.domain, "action": action},
            url=c.run_url(c.project, c.domain, name),
        )

    def _call(
        self,
        method: str,
        message: dict[str, Any],
        *,
        base: str = "",
        idempotent: bool = True,
        refused: str = connect.CREDENTIALS_REFUSED,
    ) -> Operation[dict[str, Any]]:
        return connect.unary(
            base or self.config.endpoint, method, message, idempotent=idempotent, refused=refused
        )

    def _on_data_plane(self, base: str, call: Callable[[str], Operation[T]]) -> Operation[T]:
        """Run ``call(refused)``, a call at ``base`` (the address SelectCluster named), with the connection's
        credentials where they may go: the hook signs the endpoint's origin, and the Data plane URL's origin is
        signed here (the hook passes a request to another origin on as it is). Anywhere else the call carries
        none, and a refusal (``refused``, the text :mod:`connect` gives it) says which field would send them.
        Raises what ``call`` raises."""
        data_plane = self.config.data_plane_url
        if self.auth is None or origin(base) == origin(self.config.endpoint):
            return (yield from call(connect.CREDENTIALS_REFUSED))
        if data_plane and origin(base) == origin(data_plane):
            return (yield from authorized(call(connect.CREDENTIALS_REFUSED), self.auth, data_plane))
        return (
            yield from call(
                f"The data plane {origin(base)} that {SELECT_CLUSTER} named is not the endpoint's origin "
                f"({origin(self.config.endpoint)}), so the call carried none of the connection's credentials. "
                "If that data plane takes the control plane's credentials, set the connection's Data plane URL "
                f"to {origin(base)}."
            )
        )

    # -- connection ----------------------------------------------------------------------------

    def poll_delay(self) -> float:
        return 0.0  # no rate-limit headers to go by: 429 answers are waited out by the executors

    def check_connection(self) -> Operation[str]:
        """ListTasks in the connection's project; when it lists none, also a run that cannot exist.

        :raises UnexpectedAnswerError: when the answers are not Flyte's (a server that answers any call with
            the same JSON), naming the URL that answered.
        :raises RemoteTaskError: what the calls raise (refused credentials, an unknown project, ...).
        """
        c = self.config
        method = f"{TASK_SERVICE}/ListTasks"
        body = yield from self._call(method, {"projectId": self._project_id, "request": {"limit": 1}})
        tasks = body.get("tasks")
        if tasks:
            if not isinstance(tasks, list) or not all(
                isinstance(task, dict) and isinstance(task.get("taskId"), dict) for task in tasks
            ):
                raise connect.not_an_answer(f"{c.endpoint}/{method}", _sample(body), "tasks without a taskId")
            return f"Connected to Flyte at {c.endpoint}: project {c.project}/{c.domain} answers, tasks are deployed."
        # No tasks is "{}" (proto3 JSON leaves empty fields out), which any server may answer to anything: a run
        # that cannot exist must then be refused in Connect's words.
        method = f"{RUN_SERVICE}/GetRunDetails"
        try:
            probe = yield from self._call(method, {"runId": self._run_id(self.ref_for(PROBE_RUN))})
        except NotFoundError:
            return (
                f"Connected to Flyte at {c.endpoint}: project {c.project}/{c.domain} answers, no tasks are "
                "deployed yet."
            )
        if not isinstance(probe.get("details", {}).get("action"), dict):
            raise connect.not_an_answer(
                f"{c.endpoint}/{method}", _sample(probe), "a run lookup answered without run details"
            )
        return f"Connected to Flyte at {c.endpoint}: project {c.project}/{c.domain} answers."

    # -- tasks ---------------------------------------------------------------------------------

    def resolve_task(self, task: str | Mapping[str, Any], version: str) -> Operation[TaskInterface]:
        if not isinstance(task, str):
            raise ConfigurationError(
                "Flyte tasks are deployed with 'flyte deploy', not from a DAG: pass the task's name "
                "('<environment>.<function>') as task."
            )
        c = self.config
        where = f"project {c.project!r}, domain {c.domain!r}"
        if version in ("", "latest"):
            listed = yield from self._call(
                f"{TASK_SERVICE}/ListTasks",
                {
                    "projectId": self._project_id,
                    "request": {
                        "limit": 1,
                        "sortBy": {"key": "created_at", "direction": "DESCENDING"},
                        "filters": [{"function": "EQUAL", "field": "name", "values": [task]}],
                    },
                },
            )
            tasks = listed.get("tasks") or []
            if not tasks:
                raise NotFoundError(
                    f"No Flyte task named {task!r} in {where}. Task names look like "
                    "'<environment>.<function>'; deploy it first or fix the name.",
                    status=404,
                    code="not_found",
                )
            version = str(tasks[0].get("taskId", {}).get("version", ""))
        task_id = {"org": c.org, "project": c.project, "domain": c.domain, "name": task, "version": version}
        try:
            body = yield from self._call(f"{TASK_SERVICE}/GetTaskDetails", {"taskId": task_id})
        except NotFoundError:
            raise NotFoundError(
                f"Flyte task {task!r} version {version!r} does not exist in {where}. Use version='latest' "
                "or a deployed version.",
                status=404,
                code="not_found",
            ) from None
        return parse_task_details(task, version, task_id, body.get("details", {}))

    def prepare_inputs(self, interface: TaskInterface, inputs: Mapping[str, Any]) -> dict[str, Any]:
        expected = {spec.name: spec for spec in interface.inputs}
        problems = [f"unknown input {name!r}" for name in inputs if name not in expected]
        literals_out = []
        for name, spec in expected.items():
            if name in inputs:
                try:
                    literals_out.append(
                        {"name": name, "value": literals.encode(inputs[name], spec.wire_type, name)}
                    )
                except literals.LiteralError as error:
                    problems.append(str(error))
            elif spec.has_default:
                literals_out.append({"name": name, "value": interface.wire["defaults"][name]})
            elif not spec.required:
                literals_out.append({"name": name, "value": literals.encode(None, spec.wire_type, name)})
            else:
                problems.append(f"missing input {name!r}")
        if problems:
            raise InvalidInputsError(
                f"Inputs for Flyte task {interface.task!r} (version {interface.version}) do not match its "
                "interface; nothing was submitted.\n"
                + "\n".join(f"- {p}" for p in problems)
                + f"\nExpected inputs:\n{interface.describe_inputs()}"
            )
        return {"literals": literals_out}

    # -- runs ----------------------------------------------------------------------------------

    def submit(
        self,
        interface: TaskInterface,
        wire_inputs: dict[str, Any],
        *,
        origin: RunOrigin,
        labels: Mapping[str, str],
        env: Mapping[str, str],
    ) -> Operation[RunRef]:
        ref = self.ref_for(run_name(origin.key))
        run_id = self._run_id(ref)
        request: dict[str, Any] = {"runId": run_id, "taskId": interface.wire["taskId"]}
        run_spec: dict[str, Any] = {}
        if labels:
            run_spec["labels"] = {"values": dict(labels)}
        if env:
            run_spec["envs"] = {"values": [{"key": k, "value": v} for k, v in env.items()]}
        if run_spec:
            request["runSpec"] = run_spec
        if self.upload_inputs:
            base = yield from self._select_cluster("OPERATION_UPLOAD_INPUTS", {"projectId": self._project_id})
            upload = {"runId": run_id, "taskId": interface.wire["taskId"], "inputs": wire_inputs}
            uploaded = yield from self._on_data_plane(
                base,
                lambda refused: self._call(f"{DATA_PROXY}/UploadInputs", upload, base=base, refused=refused),
            )
            request["offloadedInputData"] = uploaded.get("offloadedInputData", {})
        else:
            request["inputs"] = wire_inputs
        try:
            # The name is derived from the task instance, so a resent CreateRun cannot start a second run.
            created = yield from starting_run(self._call(f"{RUN_SERVICE}/CreateRun", request))
        except AlreadyExistsError:
            return ref  # an earlier try (or a lost response) started it: attach
        action = created.get("run", {}).get("action", {}).get("id", {}).get("name") or ROOT_ACTION
        return self.ref_for(ref.run_id, action)

    def find_run(self, run_id: str) -> Operation[RunRef]:
        ref = self.ref_for(run_id)
        try:
            yield from self._call(f"{RUN_SERVICE}/GetRunDetails", {"runId": self._run_id(ref)})
        except NotFoundError:
            c = self.config
            raise NotFoundError(
                f"No Flyte run named {run_id!r} in project {c.project!r}, domain {c.domain!r}.",
                status=404,
                code="not_found",
            ) from None
        return ref

    def status(self, ref: RunRef) -> Operation[RunStatus]:
        body = yield from self._call(f"{RUN_SERVICE}/GetRunDetails", {"runId": self._run_id(ref)})
        action = body.get("details", {}).get("action", {})
        status = parse_action_status(action)
        if status.phase in (Phase.FAILED, Phase.TIMED_OUT) and not status.message:
            # Union may leave the root action's error out of GetRunDetails; the action details carry it.
            details = yield from self._call(
                f"{RUN_SERVICE}/GetActionDetails", {"actionId": self._action_id(ref)}
            )
            status = parse_action_status(details.get("details", {}))
        return status

    def statuses(self, refs: Sequence[RunRef]) -> Operation[dict[str, RunStatus]]:
        """ListRuns filtered to the runs' names, one call per project. A failure's message is not in the
        listing, so failed runs are left out here and read with ``status``."""
        by_project: dict[tuple[str, str, str], list[str]] = {}
        for ref in refs:
            scope = ref.scope
            key = (scope.get("org", ""), scope["project"], scope["domain"])
            by_project.setdefault(key, []).append(ref.run_id)
        found: dict[str, RunStatus] = {}
        for (org, project, domain), names in by_project.items():
            body = yield from self._call(
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
                action = run.get("action", {})
                status = parse_action_status(action)
                if status.phase in (Phase.FAILED, Phase.TIMED_OUT) and not status.message:
                    continue
                found[action.get("id", {}).get("run", {}).get("name", "")] = status
        return found

    # -- sets of runs ----------------------------------------------------------------------------

    SELECTOR_FIELDS = ("project", "domain", "task_name", "labels")

    def check_selector(self, selector: Mapping[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(selector) - set(self.SELECTOR_FIELDS))
        if unknown:
            raise ConfigurationError(
                f"Flyte run selectors take {', '.join(self.SELECTOR_FIELDS)}; {', '.join(map(repr, unknown))} is "
                "not one of them."
            )
        for name in ("project", "domain", "task_name"):
            if name in selector and not isinstance(selector[name], str):
                raise ConfigurationError(f"The selector's {name!r} must be a string, not {selector[name]!r}.")
        labels = selector.get("labels", {})
        if not isinstance(labels, Mapping) or not all(isinstance(v, str) for v in labels.values()):
            raise ConfigurationError("The selector's 'labels' must map label names to string values.")
        if not selector.get("task_name") and not labels:
            raise ConfigurationError(
                "A Flyte run selector needs 'task_name' or 'labels': a whole project's runs are no set to wait on."
            )
        return dict(selector)

    def list_runs(self, selector: Mapping[str, Any]) -> Operation[list[ListedRun]]:
        """ListRuns in the selector's project and domain, filtered by task name and labels, every page.

        ListRuns answers an unknown project or domain with an empty list, so the project is looked up before
        the first listing and again whenever a listing comes back empty (never when it lists runs).

        :raises NotFoundError: the project does not exist or has no such domain, naming the field that says so.
        """
        project = {
            "organization": self.config.org,
            "name": selector.get("project") or self.config.project,
            "domain": selector.get("domain") or self.config.domain,
        }
        looked_up = (project["name"], project["domain"]) not in self._known_projects
        if looked_up:
            yield from self._known_project(selector, project["name"], project["domain"])
        filters = []
        if selector.get("task_name"):
            filters.append({"function": "EQUAL", "field": "task_name", "values": [selector["task_name"]]})
        filters += [
            {"function": "EQUAL", "field": f"labels.{key}", "values": [value]}
            for key, value in (selector.get("labels") or {}).items()
        ]

        def page(token: str | None) -> Operation[Page[ListedRun]]:
            request: dict[str, Any] = {"limit": self.status_batch_limit, "filters": filters}
            if token:
                request["token"] = token
            try:
                body = yield from self._call(
                    f"{RUN_SERVICE}/ListRuns", {"projectId": project, "request": request}
                )
            except ApiError as error:
                if error.code == "invalid_argument" and "label" in str(error) and selector.get("labels"):
                    raise ConfigurationError(
                        f"This Flyte server does not filter runs by label ({error}); open-source Flyte rejects "
                        "labels.* filters, Union accepts them. Select the runs by 'task_name' instead."
                    ) from None
                raise
            runs = [
                ListedRun(
                    run_id=run.get("action", {}).get("id", {}).get("run", {}).get("name", ""),
                    status=parse_action_status(run.get("action", {})),
                )
                for run in body.get("runs", [])
            ]
            return runs, body.get("token") or None

        listed = yield from all_pages(page)
        if not listed and not looked_up:
            yield from self._known_project(selector, project["name"], project["domain"])
        return listed

    def _known_project(self, selector: Mapping[str, Any], project: str, domain: str) -> Operation[None]:
        """GetProject (flyteidl2's ProjectService, which the SDK's ``Project.get`` calls); a server without that
        service cannot tell, and its listings stand as they are.

        :raises NotFoundError: no such project, or the project has no such domain (it is forgotten).
        """
        self._known_projects.discard((project, domain))
        named = {
            name: f"the selector's {name!r}"
            if selector.get(name)
            else f"the connection's {name.capitalize()}"
            for name in ("project", "domain")
        }
        try:
            body = yield from self._call(GET_PROJECT, {"id": project, "org": self.config.org})
        except NotFoundError:
            raise NotFoundError(
                f"There is no Flyte project {project!r} ({named['project']}) at {self.config.endpoint}"
                + (f" in org {self.config.org!r}" if self.config.org else "")
                + ". Fix the project's name.",
                status=404,
                code="not_found",
            ) from None
        except UnexpectedAnswerError:
            body = None  # no project service at this address (a plain 404 page): the listing answers alone
        except ApiError as error:
            if error.code != "unimplemented":
                raise
            body = None
        domains = [
            str(d.get("id") or d.get("name"))
            for d in ((body or {}).get("project") or {}).get("domains") or []
            if isinstance(d, dict)
        ]
        if domains and domain not in domains:
            raise NotFoundError(
                f"Flyte project {project!r} has no domain {domain!r} ({named['domain']}); its domains are "
                f"{', '.join(domains)}.",
                status=404,
                code="not_found",
            )
        self._known_projects.add((project, domain))
        return None

    def abort(self, ref: RunRef, reason: str) -> Operation[bool]:
        try:
            yield from self._call(f"{RUN_SERVICE}/AbortRun", {"runId": self._run_id(ref), "reason": reason})
        except NotFoundError:
            return True
        except ApiError as error:
            if error.code != "failed_precondition":  # already terminal
                raise
        return True

    def outputs(self, ref: RunRef) -> Operation[Any]:
        """One output is returned as itself; several as a dict by name (``multiple_outputs`` splits it)."""
        action_id = self._action_id(ref)
        base = yield from self._select_cluster("OPERATION_GET_ACTION_DATA", {"actionId": action_id})
        body = yield from self._on_data_plane(
            base,
            lambda refused: self._call(
                f"{DATA_PROXY}/GetActionData", {"actionId": action_id}, base=base, refused=refused
            ),
        )
        named = {
            item["name"]: literals.decode(item.get("value", {}))
            for item in body.get("outputs", {}).get("literals", [])
        }
        return next(iter(named.values())) if len(named) == 1 else named

    def download(self, ref: RunRef, stream: str, sink: Sink) -> Operation[None]:
        raise ConfigurationError("Flyte runs return values, not streams: there is nothing to download.")

    def progress(self, ref: RunRef, seen: int) -> Operation[Progress]:
        # Flyte reports no step events here (RunStatus.steps stays 0), so this is never asked for.
        return answer(Progress(seen=seen))

    def resume(self, ref: RunRef, inputs: Mapping[str, Any]) -> Operation[None]:
        raise ConfigurationError(
            f"Flyte run {ref.run_id} cannot be resumed with input from Airflow; only Julep executions that "
            "wait for input can."
        )

    def logs(self, ref: RunRef, status: RunStatus, max_lines: int) -> Operation[list[str]]:
        action_id = self._action_id(ref)
        try:
            base = yield from self._select_cluster("OPERATION_TAIL_LOGS", {"actionId": action_id})
            messages = yield from self._on_data_plane(
                base,
                lambda refused: connect.server_stream(
                    base,
                    f"{DATA_PROXY}/TailLogs",
                    {"actionId": action_id, "attempt": max(status.attempts, 1)},
                    # The stream stays open after the pod exits: stop once it goes quiet.
                    StreamLimits(idle_timeout=3.0, max_bytes=2 << 20),
                    refused=refused,
                ),
            )
        except NotFoundError:
            return []
        lines = [
            str(line.get("message", "")).rstrip("\n")
            for message in messages
            for batch in message.get("logs", [])
            for line in batch.get("lines", [])
        ]
        return lines[-max_lines:]

    def _select_cluster(self, operation: str, resource: dict[str, Any]) -> Operation[str]:
        body = yield from self._call(SELECT_CLUSTER, {"operation": operation, **resource})
        endpoint = str(body.get("clusterEndpoint", "")).rstrip("/")
        return endpoint if endpoint and endpoint != self.config.endpoint else self.config.endpoint


def _sample(body: object) -> str:
    return json.dumps(body, separators=(",", ":"), default=str)[:200]


def parse_task_details(
    task: str, version: str, task_id: dict[str, str], details: dict[str, Any]
) -> TaskInterface:
    spec = details.get("spec", {})
    interface = spec.get("taskTemplate", {}).get("interface", {})
    defaults = {d["name"]: d.get("parameter", {}) for d in spec.get("defaultInputs", []) if "name" in d}
    inputs = []
    default_literals = {}
    for variable in interface.get("inputs", {}).get("variables", []):
        name = variable["key"]
        wire_type = variable.get("value", {}).get("type", {})
        parameter = defaults.get(name, {})
        has_default = "default" in parameter
        if has_default:
            default_literals[name] = parameter["default"]
        optional = "unionType" in wire_type and any(
            literals.simple_of(v) == "NONE" for v in wire_type["unionType"].get("variants", [])
        )
        inputs.append(
            InputSpec(
                name=name,
                type=literals.render_type(wire_type),
                required=not (has_default or optional),
                has_default=has_default,
                default=literals.decode(parameter["default"]) if has_default else None,
                wire_type=wire_type,
            )
        )
    outputs = [v["key"] for v in interface.get("outputs", {}).get("variables", [])]
    return TaskInterface(
        platform="flyte",
        task=task,
        version=version,
        inputs=inputs,
        outputs=outputs,
        wire={"taskId": task_id, "defaults": default_literals},
    )


def parse_action_status(action: dict[str, Any]) -> RunStatus:
    status = action.get("status", {})
    raw = phase_name(status.get("phase"))
    error = action.get("errorInfo") or {}
    attempts = action.get("attempts") or []
    if not error and attempts:
        error = attempts[-1].get("errorInfo") or {}
    abort = action.get("abortInfo") or {}
    message = str(error.get("message") or abort.get("reason") or "")
    return RunStatus(
        phase=phase_of_word(raw, PHASES, "Flyte action phase"),
        raw_phase=raw,
        message=message,
        error_kind=str(error.get("kind", "")),
        error_code=str(error.get("code", "")),
        attempts=int(status.get("attempts") or 0),
    )
