"""An Avala REST server on loopback: DRF cursor pages (keyset cursors) under ``/api/v1/``, annotation that
progresses by itself, exports (zips made while they are sent), auto-label jobs, rate-limit headers, the shared
fault injection, and at its root the app pages that run links open.

Status words are the ones the brief knows (tasks ``pending``/``active``/``completed``, exports
``pending``/``processing``/``exported``/``failed``, auto-label ``pending``/``running``/``completed``/
``cancelled``): the emulator sends only those, so it never teaches the provider a word Avala may not use.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route

from airflow_remote_tasks.emulators.avala.export import export_zip
from airflow_remote_tasks.emulators.avala.paging import (
    MAX_LIMIT,
    Cursor,
    InvalidCursor,
    keyset_page,
    page_links,
)
from airflow_remote_tasks.emulators.avala.state import RATE_LIMIT, RESET_STYLES, STAMP, AvalaState
from airflow_remote_tasks.emulators.server import EmulatorApp, link_page

PREFIX = "/api/v1"
# An app link's segment before the run's uid, and the table of the state its value names.
PARENT_TABLES: Mapping[str, str] = MappingProxyType({"project": "projects", "dataset": "datasets"})


class AvalaEmulator:
    def __init__(
        self, *, api_key: str = "", tasks: int = 250, pace: float = 0.05, job_seconds: float = 1.0
    ) -> None:
        self.api_key = api_key  # empty: any key is accepted (one must still be sent)
        self.state = AvalaState(pace=pace, job_seconds=job_seconds)
        self.state.seed(tasks)
        self.fail_next_export = 0
        routes = [
            Route("/users/me/projects/", self.projects),
            Route("/users/me/projects/{uid}/", self.project),
            Route("/datasets/{uid}/", self.dataset),
            Route("/tasks/", self.list_tasks),
            Route("/tasks/{uid}/", self.task),
            Route("/exports/", self.create_export, methods=["POST"]),
            Route("/exports/{uid}/", self.export),
            Route("/projects/{uid}/auto-label/", self.create_job, methods=["POST"]),
            Route("/auto-label-jobs/", self.list_jobs),
            Route("/auto-label-jobs/{uid}/", self.job, methods=["GET", "DELETE"]),
        ]
        api = Starlette(
            routes=[Mount(PREFIX, routes=routes)],
            exception_handlers={HTTPException: _drf_error},  # DRF's {"detail"} shape, for no route too
        )
        # Opened without the key, as by a browser: export files (signed-URL stand-ins) and the app's pages that
        # run links point to (the provider's App URL field set to this server's URL).
        pages = Starlette(
            routes=[
                Route("/_files/exports/{uid}.zip", self._download),
                Route(
                    "/projects/{project}/tasks/{uid}",
                    self._page_of("task", "tasks", self.state.task_view, "project"),
                ),
                Route(
                    "/projects/{project}/exports/{uid}",
                    self._page_of("export", "exports", self._export_facts, "project", "scope"),
                ),
                Route(
                    "/datasets/{dataset}/exports/{uid}",
                    self._page_of("export", "exports", self._export_facts, "dataset", "scope"),
                ),
                Route(
                    "/projects/{project}/auto-label-jobs/{uid}",
                    self._page_of("auto-label job", "jobs", self.state.job_view, "project"),
                ),
            ]
        )
        self.app = EmulatorApp(self._guard(api, pages), _error_body, self._control)

    def _guard(self, api: Any, pages: Any) -> Any:
        async def app(scope: Any, receive: Any, send: Any) -> None:
            if not scope["path"].startswith(PREFIX + "/"):
                await pages(scope, receive, send)
                return
            headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
            key = headers.get("x-avala-api-key", "")
            if not key or (self.api_key and key != self.api_key):
                response: Response = JSONResponse({"detail": "Invalid API key."}, status_code=401)
                await response(scope, receive, send)
                return
            self.state.spend_call()

            async def with_limits(message: dict[str, Any]) -> None:
                if message["type"] == "http.response.start":
                    message["headers"] = [*message.get("headers", []), *self.state.limit_headers()]
                await send(message)

            await api(scope, receive, with_limits)

        return app

    # -- pages ----------------------------------------------------------------------------------------

    def _page(self, request: Request, items: list[dict[str, Any]]) -> tuple[Response, list[dict[str, Any]]]:
        """A DRF cursor page of ``items`` (filtered already) and the items on it; the cursor is a keyset one
        (see :mod:`.paging`) and rides in ``next`` with the filters."""
        try:
            limit = min(max(int(request.query_params.get("limit") or 100), 1), MAX_LIMIT)
            cursor = request.query_params.get("cursor")
            page = keyset_page(items, Cursor.decode(cursor) if cursor else None, limit)
        except InvalidCursor:
            return JSONResponse({"detail": "Invalid cursor"}, status_code=404), []
        except ValueError:
            return JSONResponse({"detail": "limit must be a whole number."}, status_code=400), []
        params = {k: v for k, v in request.query_params.items() if k != "cursor"}
        return JSONResponse(page_links(f"{_base(request)}{request.url.path}", params, page)), page.results

    # -- routes ---------------------------------------------------------------------------------------

    async def projects(self, request: Request) -> Response:
        return self._page(request, list(self.state.projects.values()))[0]

    async def project(self, request: Request) -> Response:
        return self._found(self.state.projects.get(request.path_params["uid"]))

    async def dataset(self, request: Request) -> Response:
        return self._found(self.state.datasets.get(request.path_params["uid"]))

    async def list_tasks(self, request: Request) -> Response:
        project = request.query_params.get("project")
        status = request.query_params.get("status")
        views = [
            self.state.task_view(t)
            for t in self.state.tasks.values()
            if not project or t["project"] == project
        ]
        response, served = self._page(request, [v for v in views if not status or v["status"] == status])
        self.state.drift([task["uid"] for task in served])
        return response

    async def task(self, request: Request) -> Response:
        task = self.state.tasks.get(request.path_params["uid"])
        return self._found(self.state.task_view(task) if task else None)

    async def create_export(self, request: Request) -> Response:
        body = await request.json()
        if not isinstance(body, dict) or not (body.get("project") or body.get("dataset")):
            return JSONResponse({"detail": "Give a project or a dataset."}, status_code=400)
        scope = body.get("project") or body.get("dataset")
        if scope not in self.state.projects and scope not in self.state.datasets:
            return JSONResponse({"detail": "Not found."}, status_code=404)
        uid = "exp-" + secrets.token_hex(6)
        fail = self.fail_next_export > 0
        self.fail_next_export -= int(fail)
        self.state.exports[uid] = {"uid": uid, "scope": scope, "created": time.time(), "fail": fail}
        return JSONResponse(self.state.export_view(self.state.exports[uid], _base(request)), status_code=201)

    async def export(self, request: Request) -> Response:
        export = self.state.exports.get(request.path_params["uid"])
        return self._found(self.state.export_view(export, _base(request)) if export else None)

    async def _download(self, request: Request) -> Response:
        """The export's zip, made as it is sent, of the scope's tasks done by now."""
        export = self.state.exports.get(request.path_params["uid"])
        if export is None:
            return JSONResponse({"detail": "Not found."}, status_code=404)
        views = (
            self.state.task_view(t)
            for t in list(self.state.tasks.values())
            if t["project"] == export["scope"]
        )
        done = (view for view in views if view["status"] == "completed")
        return StreamingResponse(
            export_zip(done, self.state.annotations_per_task), media_type="application/zip"
        )

    def _export_facts(self, export: dict[str, Any]) -> dict[str, Any]:
        return self.state.export_view(export, "") | {"scope": export["scope"]}

    def _page_of(self, what: str, table: str, view: Any, parent: str, field: str = "project") -> Any:
        """The route of an app page a run link opens: the run's uid and what the emulator knows of it; 404 when
        the run is not under the link's ``parent`` segment (its project or dataset, the run's ``field``)."""

        async def page(request: Request) -> Response:
            uid, under = request.path_params["uid"], request.path_params[parent]
            found = getattr(self.state, table).get(uid)
            if found and (found[field] != under or under not in getattr(self.state, PARENT_TABLES[parent])):
                found = None
            missing = {"status": f"not found in {parent} {under}"}
            facts = {k: v for k, v in view(found).items() if k != "uid"} if found else missing
            return HTMLResponse(link_page(f"Avala {what} {uid}", facts), status_code=200 if found else 404)

        return page

    async def create_job(self, request: Request) -> Response:
        project = request.path_params["uid"]
        if project not in self.state.projects:
            return JSONResponse({"detail": "Not found."}, status_code=404)
        body = await request.json()
        uid = "alj-" + secrets.token_hex(6)
        job = {
            "uid": uid,
            "project": project,
            "model_type": body.get("model_type", "default"),
            "confidence_threshold": body.get("confidence_threshold", 0.5),
            "labels": body.get("labels", []),
            "dry_run": bool(body.get("dry_run", False)),
            "total_items": sum(1 for t in self.state.tasks.values() if t["project"] == project),
            "error_message": None,
            "summary": {},
            "started_at": STAMP,
            "created_at": STAMP,
            "created": time.time(),
            "cancelled": False,
        }
        self.state.jobs[uid] = job
        return JSONResponse(self.state.job_view(job), status_code=201)

    async def list_jobs(self, request: Request) -> Response:
        project = request.query_params.get("project")
        jobs = [
            self.state.job_view(j) for j in self.state.jobs.values() if not project or j["project"] == project
        ]
        return self._page(request, jobs)[0]

    async def job(self, request: Request) -> Response:
        job = self.state.jobs.get(request.path_params["uid"])
        if job is None:
            return JSONResponse({"detail": "Not found."}, status_code=404)
        if request.method == "DELETE":
            job["cancelled"] = True
            return Response(status_code=204)
        return JSONResponse(self.state.job_view(job))

    @staticmethod
    def _found(item: dict[str, Any] | None) -> Response:
        return (
            JSONResponse(item)
            if item is not None
            else JSONResponse({"detail": "Not found."}, status_code=404)
        )

    def _set_rate_limit(self, payload: dict[str, Any]) -> dict[str, Any]:
        """``remaining`` calls left now; ``reset``: the header's style; ``window``: seconds, a new window from now.

        :raises ValueError: a style that is not one of :data:`RESET_STYLES` (answered 400)."""
        style = str(payload.get("reset", self.state.reset_style))
        if style not in RESET_STYLES:
            raise ValueError(f"reset must be one of {', '.join(RESET_STYLES)}, not {style!r}")
        state = self.state
        if "window" in payload:
            state.window, state.window_started = float(payload["window"]), time.time()
        state.remaining, state.reset_style = int(payload.get("remaining", RATE_LIMIT)), style
        return {"remaining": state.remaining, "reset": style, "window": state.window}

    def _control(self, method: str, name: str, payload: Any) -> Any:
        if name == "exports" and method == "POST":
            self.fail_next_export = int((payload or {}).get("fail_next", 0))
            return {"fail_next": self.fail_next_export}
        if name == "jobs":
            return [self.state.job_view(j) | {"project": j["project"]} for j in self.state.jobs.values()]
        if name == "exports":
            return [{"uid": e["uid"], "scope": e["scope"]} for e in self.state.exports.values()]
        if name == "drift" and method == "POST":
            self.state.drift_per_page = int((payload or {}).get("per_page", 0))
            return {"per_page": self.state.drift_per_page}
        if name == "tasks" and method == "POST":
            return self.state.change_tasks(payload or {})
        if name == "rate-limit" and method == "POST":
            return self._set_rate_limit(payload or {})
        raise KeyError(name)


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


async def _drf_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    return JSONResponse({"detail": error.detail}, status_code=error.status_code)


def _error_body(status: int, code: str, message: str) -> tuple[str, bytes]:
    return "application/json", json.dumps({"detail": f"{message} ({code})"}).encode()
