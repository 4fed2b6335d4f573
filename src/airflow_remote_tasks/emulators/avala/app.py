"""An Avala REST server on loopback: DRF-style pages under ``/api/v1/``, annotation that progresses by itself,
exports, auto-label jobs, rate-limit headers and the shared fault injection.

Status words are the ones the brief knows (tasks ``pending``/``active``/``completed``, exports
``pending``/``processing``/``exported``/``failed``, auto-label ``pending``/``running``/``completed``/
``cancelled``): the emulator sends only those, so it never teaches the provider a word Avala may not use.
"""

from __future__ import annotations

import io
import json
import secrets
import time
import zipfile
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from airflow_remote_tasks.emulators.avala.paging import (
    MAX_LIMIT,
    Cursor,
    InvalidCursor,
    keyset_page,
    page_links,
)
from airflow_remote_tasks.emulators.server import EmulatorApp

PREFIX = "/api/v1"
DEMO_PROJECT = "proj-001"
SMALL_PROJECT = "proj-002"
DEMO_DATASET = "ds-001"
STAMP = "2026-01-01T00:00:00Z"
RATE_LIMIT = 1000  # per window, for the X-RateLimit-* headers
NEXT_STATUS = {"pending": "active", "active": "completed"}


@dataclass
class AvalaState:
    """Projects whose tasks people finish one after another, ``pace`` seconds each, from the start."""

    pace: float = 0.05
    job_seconds: float = 1.0
    started: float = field(default_factory=time.time)
    projects: dict[str, dict[str, Any]] = field(default_factory=dict)
    datasets: dict[str, dict[str, Any]] = field(default_factory=dict)
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)
    exports: dict[str, dict[str, Any]] = field(default_factory=dict)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    remaining: int = RATE_LIMIT
    # Tests: after each page of /tasks/ is served, this many of the tasks on it move on to their next status
    # (people pick them up between a client's page reads).
    drift_per_page: int = 0

    def seed(self, tasks: int) -> None:
        self.datasets[DEMO_DATASET] = {
            "uid": DEMO_DATASET,
            "name": "Street scenes",
            "slug": "street-scenes",
            "item_count": tasks,
            "status": "created",
            "data_type": "image",
        }
        for uid, name, count in ((DEMO_PROJECT, "Street labelling", tasks), (SMALL_PROJECT, "Review", 3)):
            self.projects[uid] = {"uid": uid, "name": name, "status": "active", "created_at": STAMP}
            for index in range(count):
                task_uid = f"task-{uid[-3:]}-{index:04d}"
                kind = "annotation" if index % 10 else "review"
                self.tasks[task_uid] = {
                    "uid": task_uid,
                    "type": kind,
                    "name": f"Label image {index}",
                    "project": uid,
                    "order": index,
                    "created_at": STAMP,
                }

    def task_view(self, task: dict[str, Any]) -> dict[str, Any]:
        """A task as the API shows it: its status set by a test (``status``), or by the time people take."""
        elapsed = (time.time() - self.started) / max(self.pace, 1e-9)
        order = task["order"]
        status = "completed" if elapsed >= order + 1 else "active" if elapsed >= order else "pending"
        return {k: v for k, v in task.items() if k != "order"} | {
            "status": task.get("status") or status,
            "updated_at": STAMP,
        }

    def drift(self, served: list[str]) -> None:
        for uid in served[: self.drift_per_page]:
            task = self.tasks[uid]
            task["status"] = NEXT_STATUS.get(self.task_view(task)["status"], task.get("status"))

    def export_view(self, export: dict[str, Any], base: str) -> dict[str, Any]:
        elapsed = time.time() - export["created"]
        status = "pending" if elapsed < self.job_seconds / 3 else "processing"
        if elapsed >= self.job_seconds:
            status = "failed" if export["fail"] else "exported"
        url = f"{base}/_files/exports/{export['uid']}.zip" if status == "exported" else None
        return {
            "uid": export["uid"],
            "status": status,
            "download_url": url,
            "created_at": STAMP,
            "updated_at": STAMP,
        }

    def job_view(self, job: dict[str, Any]) -> dict[str, Any]:
        view = {k: v for k, v in job.items() if k not in ("created", "cancelled", "project")}
        if job["cancelled"]:
            return view | {"status": "cancelled"}
        done = min(1.0, (time.time() - job["created"]) / max(self.job_seconds, 1e-9))
        total = job["total_items"]
        status = "pending" if done < 0.1 else "running" if done < 1 else "completed"
        processed = int(total * done)
        return view | {
            "status": status,
            "progress_pct": round(done * 100, 1),
            "processed_items": processed,
            "successful_items": processed,
            "failed_items": 0,
            "skipped_items": 0,
            "completed_at": STAMP if status == "completed" else None,
        }


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
        api = Starlette(routes=[Mount(PREFIX, routes=routes)])
        self.app = EmulatorApp(self._guard(api), _error_body, self._control)

    def _guard(self, api: Any) -> Any:
        async def app(scope: Any, receive: Any, send: Any) -> None:
            if scope["path"].startswith("/_files/exports/"):
                await self._download(scope, send)
                return
            headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
            key = headers.get("x-avala-api-key", "")
            if not key or (self.api_key and key != self.api_key):
                response: Response = JSONResponse({"detail": "Invalid API key."}, status_code=401)
                await response(scope, receive, send)
                return
            self.state.remaining = max(self.state.remaining - 1, 0)

            async def with_limits(message: dict[str, Any]) -> None:
                if message["type"] == "http.response.start":
                    message["headers"] = [*message.get("headers", []), *self._limit_headers()]
                await send(message)

            await api(scope, receive, with_limits)

        return app

    def _limit_headers(self) -> list[tuple[bytes, bytes]]:
        return [
            (b"x-ratelimit-limit", str(RATE_LIMIT).encode()),
            (b"x-ratelimit-remaining", str(self.state.remaining).encode()),
            (b"x-ratelimit-reset", b"60"),
        ]

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

    async def _download(self, scope: Any, send: Any) -> None:
        uid = scope["path"].rsplit("/", 1)[1].removesuffix(".zip")
        export = self.state.exports.get(uid)
        if export is None:
            await JSONResponse({"detail": "Not found."}, status_code=404)(scope, None, send)  # type: ignore[arg-type]
            return
        tasks = [
            self.state.task_view(t) for t in self.state.tasks.values() if t["project"] == export["scope"]
        ]
        archive = io.BytesIO()
        with zipfile.ZipFile(archive, "w") as zipped:
            zipped.writestr("annotations.json", json.dumps([t for t in tasks if t["status"] == "completed"]))
        await Response(archive.getvalue(), media_type="application/zip")(scope, None, send)  # type: ignore[arg-type]

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
        if name == "rate-limit" and method == "POST":
            self.state.remaining = int((payload or {}).get("remaining", RATE_LIMIT))
            return {"remaining": self.state.remaining}
        raise KeyError(name)


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _error_body(status: int, code: str, message: str) -> tuple[str, bytes]:
    return "application/json", json.dumps({"detail": f"{message} ({code})"}).encode()
