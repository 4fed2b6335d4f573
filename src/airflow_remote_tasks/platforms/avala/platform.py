"""Avala over REST: annotation tasks waited on (one, or a set), exports streamed to storage, auto-label jobs.

People do Avala's annotation tasks: nothing here starts one. A DAG waits on them (``RemoteRunSensor`` on one
task uid, ``RemoteRunsSensor`` on a project's set), and starts the jobs that follow: an export, an auto-label
job. Lists are DRF cursor pages (``{results, next, previous}``); the next page is the ``next`` URL.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from airflow_remote_tasks.core.answers import not_its_answer
from airflow_remote_tasks.core.arguments import invalid_inputs
from airflow_remote_tasks.core.auth import HeaderAuth
from airflow_remote_tasks.core.errors import (
    ConfigurationError,
    InvalidInputsError,
    NotFoundError,
    RemoteTaskError,
    TransportError,
    is_transient,
)
from airflow_remote_tasks.core.models import (
    InputSpec,
    ListedRun,
    Progress,
    RunOrigin,
    RunRef,
    RunStatus,
    StreamedOutput,
    TaskInterface,
)
from airflow_remote_tasks.core.operation import (
    HttpRequest,
    HttpResponse,
    Operation,
    Sink,
    answer,
    path_segment,
)
from airflow_remote_tasks.core.paging import Page, all_pages
from airflow_remote_tasks.core.phases import Phase, phase_of_word
from airflow_remote_tasks.core.transport import ClientSettings
from airflow_remote_tasks.platforms.avala import PLATFORM
from airflow_remote_tasks.platforms.avala.config import LINK_PATHS, STATUS_WORDS, AvalaConfig
from airflow_remote_tasks.platforms.avala.wire import (
    BASE_URL_HINT,
    api_path,
    error_from_response,
    rate_limit_delay,
)

PAGE_SIZE = 100
MAX_RATE_DELAY = 60.0  # a nearly used-up rate limit slows a wait's polls by at most this much


class Export(BaseModel):
    model_config = ConfigDict(extra="forbid")
    project: str | None = Field(default=None, min_length=1)
    dataset: str | None = Field(default=None, min_length=1)


class AutoLabel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    project: str = Field(min_length=1)
    model_type: str | None = None
    confidence_threshold: float | None = Field(default=None, ge=0, le=1)
    labels: list[str] | None = None
    dry_run: bool | None = None

    def body(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True, exclude={"project"})


JOBS: dict[str, type[BaseModel]] = {"export": Export, "auto_label": AutoLabel}
# What a success answer must be, and that in words for the error when it is not: every Avala call answers a JSON
# object, a listing a DRF page of objects; a DELETE may answer nothing.
ANSWERS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "object": (lambda body: isinstance(body, dict), "an Avala answer (a JSON object)"),
    "page": (
        lambda body: (
            isinstance(body, dict)
            and isinstance(body.get("results"), list)
            and all(isinstance(item, dict) for item in body["results"])
        ),
        "an Avala page (a JSON object whose 'results' is a list of objects)",
    ),
    "any": (lambda body: True, "an Avala answer"),
    # A create answers the object it made: without its uid there is nothing to wait on.
    "created": (
        lambda body: isinstance(body, dict) and isinstance(body.get("uid"), str) and bool(body["uid"]),
        "an Avala object that was created (a JSON object with its 'uid')",
    ),
}
SELECTOR_FIELDS = ("project", "status", "type")


class AvalaPlatform:
    name = "avala"
    status_batch_limit = 0  # tasks are read one by one; sets through the task listing

    def __init__(self, config: AvalaConfig, *, client_settings: ClientSettings | None = None) -> None:
        self.config = config
        self.client_settings = client_settings or ClientSettings()
        self.api_origin = config.base_url  # the only origin credentials go to (core.auth)
        self.auth = HeaderAuth("X-Avala-Api-Key", config.api_key.get_secret_value())
        self.words = {kind: dict(table) for kind, table in STATUS_WORDS.items()}
        self._delay = 0.0
        # Projects a selector named that were seen to exist, so a listing with tasks in it needs no lookup. This
        # object is shared by every wait on the connection in the process: an empty listing looks again.
        self._known_projects: set[str] = set()
        for word, phase in config.status_overrides.items():
            for table in self.words.values():
                table[word] = Phase(phase)

    # -- HTTP ---------------------------------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str = "",
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        idempotent: bool = True,
        starts_run: bool = False,
        url: str = "",
        shape: str = "object",
    ) -> Operation[Any]:
        """The answer's JSON, which must be of ``shape`` (:data:`ANSWERS`).

        :raises UnexpectedAnswerError: for a success answer of another shape, naming the URL and what came back.
        :raises RemoteTaskError: for an error answer (see :func:`.wire.error_from_response`); one in someone
            else's words is an :class:`UnexpectedAnswerError` too, or for HTTP 429, 502, 503 or 504 a
            :class:`TransportError`.
        """
        target = url or self.config.url(path)
        if params:
            target += "?" + urlencode({k: v for k, v in params.items() if v is not None})
        response = yield HttpRequest(
            method,
            target,
            headers={"Accept": "application/json", **({"Content-Type": "application/json"} if body else {})},
            content=json.dumps(body).encode() if body is not None else None,
            idempotent=idempotent,
            starts_run=starts_run,
        )
        self._note_rate_limit(response)
        if not 200 <= response.status < 300:
            raise error_from_response(method, target, response)
        body = None if response.status == 204 or not response.content else response.json()
        fits, expected = ANSWERS[shape]
        if not fits(body):
            raise not_its_answer(target, response, expected, BASE_URL_HINT)
        return body

    def _note_rate_limit(self, response: HttpResponse) -> None:
        delay = rate_limit_delay(response.headers)
        if delay is not None:
            self._delay = delay

    def poll_delay(self) -> float:
        return min(self._delay, MAX_RATE_DELAY)

    # -- connection ---------------------------------------------------------------------------------

    def check_connection(self) -> Operation[str]:
        page = yield from self._call("GET", "users/me/projects", params={"limit": 1}, shape="page")
        seen = "a project" if page["results"] else "no project yet"
        return f"Reached Avala at {self.config.base_url}; the key sees {seen}."

    # -- jobs ---------------------------------------------------------------------------------------

    def resolve_task(self, task: str | Mapping[str, Any], version: str) -> Operation[TaskInterface]:
        if not isinstance(task, str) or task not in JOBS:
            raise ConfigurationError(
                f"Avala job {task!r} is not one this provider starts; use one of: {', '.join(JOBS)}. Annotation "
                "tasks are done by people: wait on them with RemoteRunSensor (one) or RemoteRunsSensor (a set)."
            )
        model = JOBS[task]
        inputs = [
            InputSpec(
                name=n, type=str(f.annotation), required=f.is_required(), has_default=not f.is_required()
            )
            for n, f in model.model_fields.items()
        ]
        return answer(TaskInterface(platform=self.name, task=task, inputs=inputs, wire={"kind": task}))

    def prepare_inputs(self, interface: TaskInterface, inputs: Mapping[str, Any]) -> dict[str, Any]:
        job = _parse(interface.task, inputs)
        if isinstance(job, Export) and bool(job.project) == bool(job.dataset):
            raise InvalidInputsError(
                "An Avala export takes exactly one of 'project' or 'dataset'; nothing was started."
            )
        return job.model_dump(exclude_none=True)

    def submit(
        self,
        interface: TaskInterface,
        wire_inputs: dict[str, Any],
        *,
        origin: RunOrigin,
        labels: Mapping[str, str],
        env: Mapping[str, str],
    ) -> Operation[RunRef]:
        if env:
            raise ConfigurationError("Avala jobs take no environment variables.")
        job = _parse(interface.task, wire_inputs)
        if isinstance(job, Export):
            yield from self._check_exists(
                "projects" if job.project else "datasets", job.project or job.dataset or ""
            )
            # No idempotency key and no listing of exports: a create whose answer was lost is not sent again
            # blindly (it is not retried); an export only reads, so a retry of the task that runs it twice is
            # harmless.
            created = yield from self._call(
                "POST",
                "exports",
                body=job.model_dump(exclude_none=True),
                idempotent=False,
                starts_run=True,
                shape="created",
            )
            return self._ref("export", str(created["uid"]), job.project or "", dataset=job.dataset or "")
        assert isinstance(job, AutoLabel)
        yield from self._check_exists("projects", job.project)

        def create() -> Operation[Any]:
            return self._call(
                "POST",
                api_path("projects", job.project, "auto-label"),
                body=job.body(),
                idempotent=False,
                starts_run=True,
                shape="created",
            )

        try:
            created = yield from create()
        except RemoteTaskError as error:
            if not is_transient(error):
                raise
            # The job may have been created before the answer was lost: attach to a matching unfinished one.
            found = yield from self._matching_auto_label(job)
            created = found if found is not None else (yield from create())
        return self._ref("auto_label", str(created["uid"]), job.project)

    def _matching_auto_label(self, job: AutoLabel) -> Operation[dict[str, Any] | None]:
        jobs = yield from self._list("auto-label-jobs", {"project": job.project})
        wanted = job.body()
        for found in jobs:
            phase = self._phase("auto_label", str(found.get("status") or ""))
            if not phase.is_terminal and all(found.get(k) == v for k, v in wanted.items() if k != "dry_run"):
                return dict(found)
        return None

    def _check_exists(self, kind: str, uid: str, named: str = "") -> Operation[None]:
        """:raises NotFoundError: no such project or dataset is visible to the key (``named``: where the uid
        was given, for the message)."""
        path = api_path("users", "me", "projects", uid) if kind == "projects" else api_path("datasets", uid)
        try:
            yield from self._call("GET", path)
        except NotFoundError:
            raise NotFoundError(
                f"No Avala {kind[:-1]} {uid!r}{named} is visible to this connection's API key; check the uid.",
                status=404,
                code="not_found",
            ) from None
        return None

    def _ref(self, kind: str, uid: str, project: str = "", *, dataset: str = "") -> RunRef:
        """The run's reference, its link into the app (none where its project or dataset is not known)."""
        link = LINK_PATHS["dataset_export" if kind == "export" and dataset else kind]
        names = {"uid": uid, "project": project, "dataset": dataset}
        needed = [name for name in names if f"{{{name}}}" in link]
        url = ""
        if all(names[name] for name in needed):
            url = f"{self.config.app_url}/" + link.format(**{n: path_segment(names[n]) for n in needed})
        return RunRef(platform=self.name, run_id=uid, scope={"kind": kind, "project": project}, url=url)

    # -- reading ------------------------------------------------------------------------------------

    PATHS = {"task": "tasks", "export": "exports", "auto_label": "auto-label-jobs"}

    def find_run(self, run_id: str) -> Operation[RunRef]:
        """The annotation task ``run_id`` (a uid).

        :raises ConfigurationError: ``run_id`` is not an Avala uid (a path, a URL).
        :raises NotFoundError: no such task is visible to the key."""
        run_id = PLATFORM.check_run_id(run_id)
        task = yield from self._call("GET", api_path("tasks", run_id))
        return self._ref("task", run_id, str(task.get("project") or ""))

    def _object(self, ref: RunRef) -> Operation[dict[str, Any]]:
        found = yield from self._call("GET", api_path(self.PATHS[ref.scope.get("kind", "task")], ref.run_id))
        return dict(found)

    def _phase(self, kind: str, word: str) -> Phase:
        hint = " Add it to the connection's Status words to say what it means."
        return phase_of_word(word, self.words[kind], f"Avala {kind} status", hint)

    def _status_of(self, kind: str, found: Mapping[str, Any]) -> RunStatus:
        word = str(found.get("status") or "unknown")
        phase = self._phase(kind, word)
        percent = found.get("progress_pct")
        message = str(found.get("error_message") or "") if phase.is_terminal and not phase.is_success else ""
        return RunStatus(
            phase=phase,
            raw_phase=word,
            message=message,
            percent=float(percent) if isinstance(percent, int | float) else None,
        )

    def status(self, ref: RunRef) -> Operation[RunStatus]:
        found = yield from self._object(ref)
        return self._status_of(ref.scope.get("kind", "task"), found)

    def statuses(self, refs: Sequence[RunRef]) -> Operation[dict[str, RunStatus]]:
        return answer({})

    def progress(self, ref: RunRef, seen: int) -> Operation[Progress]:
        return answer(Progress(lines=[], seen=seen))

    def outputs(self, ref: RunRef) -> Operation[Any]:
        found = yield from self._object(ref)
        if ref.scope.get("kind") == "export":
            return StreamedOutput(run_id=ref.run_id, format="binary", sizes={"result": None})
        if ref.scope.get("kind") == "auto_label":
            keys = (
                "total_items",
                "processed_items",
                "successful_items",
                "failed_items",
                "skipped_items",
                "summary",
            )
            return {"run_id": ref.run_id, **{k: found.get(k) for k in keys}}
        return found

    def download(self, ref: RunRef, stream: str, sink: Sink) -> Operation[None]:
        found = yield from self._object(ref)
        url = str(found.get("download_url") or "")
        if not url:
            raise TransportError(
                f"Avala export {ref.run_id} is {found.get('status')!r} but has no download_url."
            )
        # The core sends the key to the API's own origin only: a signed storage URL elsewhere gets none.
        response = yield HttpRequest("GET", url, sink=sink)
        if not 200 <= response.status < 300:
            raise TransportError(f"Downloading export {ref.run_id} got HTTP {response.status}.")
        return None

    def logs(self, ref: RunRef, status: RunStatus, max_lines: int) -> Operation[list[str]]:
        return answer([])

    def resume(self, ref: RunRef, inputs: Mapping[str, Any]) -> Operation[None]:
        raise ConfigurationError("Avala runs do not wait for input: there is nothing to resume.")

    def abort(self, ref: RunRef, reason: str) -> Operation[bool]:
        """Auto-label jobs are cancelled (``DELETE``); exports and people's tasks cannot be stopped."""
        if ref.scope.get("kind") != "auto_label":
            return answer(False)
        return self._cancel_auto_label(ref)

    def _cancel_auto_label(self, ref: RunRef) -> Operation[bool]:
        with contextlib.suppress(NotFoundError):  # gone already: cancelled before, or deleted twice
            yield from self._call("DELETE", api_path("auto-label-jobs", ref.run_id), shape="any")
        return True

    # -- sets ---------------------------------------------------------------------------------------

    def check_selector(self, selector: Mapping[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(selector) - set(SELECTOR_FIELDS))
        if unknown:
            raise ConfigurationError(
                f"Avala task selectors take {', '.join(SELECTOR_FIELDS)}; {', '.join(map(repr, unknown))} is not "
                "one of them."
            )
        if not selector.get("project"):
            raise ConfigurationError("An Avala task selector needs 'project' (its uid).")
        return dict(selector)

    def list_runs(self, selector: Mapping[str, Any]) -> Operation[list[ListedRun]]:
        """GET /tasks/ filtered by project and status, every cursor page; ``type`` is matched here, since the
        listing takes no type filter.

        :raises NotFoundError: the selector's project does not exist (or the key cannot see it): looked up
            before its first listing, and again whenever a listing is empty (the project may have been deleted,
            or the key lost access, since), because a listing filtered on an unknown project may answer an
            empty page, a wait forever."""
        project = selector["project"]
        looked_up = project not in self._known_projects
        if looked_up:
            yield from self._known_project(project)
        tasks = yield from self._list("tasks", {"project": project, "status": selector.get("status")})
        if not tasks and not looked_up:
            yield from self._known_project(project)
        wanted = selector.get("type")
        return [
            ListedRun(run_id=str(t["uid"]), status=self._status_of("task", t))
            for t in tasks
            if not wanted or t.get("type") == wanted
        ]

    def _known_project(self, project: str) -> Operation[None]:
        """:raises NotFoundError: the selector's ``project`` is not visible to the key (it is forgotten)."""
        self._known_projects.discard(project)
        yield from self._check_exists("projects", project, " (the selector's 'project')")
        self._known_projects.add(project)
        return None

    def _list(self, path: str, params: Mapping[str, Any]) -> Operation[list[dict[str, Any]]]:
        def page(next_url: str | None) -> Operation[Page[dict[str, Any]]]:
            if next_url:  # the next URL carries the cursor and the filters
                body = yield from self._call("GET", url=next_url, shape="page")
            else:
                body = yield from self._call("GET", path, params={**params, "limit": PAGE_SIZE}, shape="page")
            return list(body["results"]), body.get("next")

        return (yield from all_pages(page))


def _parse(kind: str, inputs: Mapping[str, Any]) -> BaseModel:
    try:
        return JOBS[kind].model_validate(dict(inputs))
    except ValidationError as error:
        raise invalid_inputs(error, JOBS[kind], f"Inputs for Avala job {kind!r}") from None
