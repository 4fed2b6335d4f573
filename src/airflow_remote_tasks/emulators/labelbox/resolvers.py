"""The resolvers of the Labelbox emulator's GraphQL root fields, over :class:`.state.LabelboxState`."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from graphql import GraphQLError

from airflow_remote_tasks.emulators.labelbox.catalog import USER_ID
from airflow_remote_tasks.emulators.labelbox.exports import build as build_export
from airflow_remote_tasks.emulators.labelbox.state import CANCELABLE_TYPES, LabelboxState, Task
from airflow_remote_tasks.emulators.labelbox.stream import ExportStream
from airflow_remote_tasks.emulators.server import REQUEST_BASE_URL


class LabelboxError(GraphQLError):
    """An error with Labelbox's ``extensions.code``."""

    def __init__(self, message: str, code: str, **extensions: Any) -> None:
        super().__init__(message, extensions={"code": code, **extensions})


class Root:
    """Resolvers of the root fields; graphql-core calls an attribute of the root value with the arguments."""

    def __init__(self, state: LabelboxState) -> None:
        self.state = state

    # -- queries -----------------------------------------------------------------------------------

    def user(self, info: Any, where: dict[str, Any] | None = None) -> dict[str, Any] | None:
        user_id = (where or {}).get("id") or USER_ID
        if user_id != USER_ID:
            return None
        owned = [t for t in self.state.tasks.values() if t.owner == USER_ID]
        return {**self.state.user, "createdTasks": self._tasks(owned)}

    def organization(self, info: Any) -> dict[str, Any]:
        return {**self.state.organization, "tasks": self._tasks(list(self.state.tasks.values()))}

    def _tasks(self, tasks: list[Task]) -> Callable[..., list[dict[str, Any]]]:
        def listing(info: Any, where: dict[str, Any] | None = None, skip: int = 0, first: int = 100) -> Any:
            views = [self._task(t) for t in sorted(tasks, key=lambda t: -t.created)]  # newest first
            for key, value in (where or {}).items():
                views = [v for v in views if v.get(key) == value]
            return views[skip : skip + first]

        return listing

    def _task(self, task: Task) -> dict[str, Any]:
        view = self.state.task_view(task)
        view["exportMetadataHeader"] = lambda info, streamType: self._header(task, streamType)
        view["exportFileFromOffset"] = lambda info, streamType, offset: self._part(task, streamType, offset)
        return view

    def _header(self, task: Task, stream: str) -> dict[str, Any] | None:
        if task.status(time.time()) != "COMPLETE" or stream not in task.streams:
            return None
        data = task.streams[stream]
        return {"totalSize": data.size, "totalLines": data.lines}

    def _part(self, task: Task, stream: str, offset: Any) -> dict[str, Any]:
        data = task.streams.get(stream)
        start = int(offset)
        if data is None or start >= data.size:
            raise LabelboxError(f"offset {start} is past the end of the stream", "MALFORMED_REQUEST")
        start, end = self.state.chunk(task, stream, start)
        return {
            "offsets": {"start": str(start), "end": str(end)},
            "lines": {"start": str(data.line_at(start)), "end": str(data.line_at(end))},
            "file": f"{REQUEST_BASE_URL.get()}/_files/{task.id}/{stream}/{start}-{end}",
        }

    def project(self, info: Any, where: dict[str, Any]) -> dict[str, Any] | None:
        found = self.state.project_view(str(where.get("id")))
        if found is None:
            raise LabelboxError("Resource not found", "RESOURCE_NOT_FOUND")
        return found

    def dataset(self, info: Any, where: dict[str, Any]) -> dict[str, Any] | None:
        found = self.state.dataset_view(str(where.get("id")))
        if found is None:
            raise LabelboxError("Resource not found", "RESOURCE_NOT_FOUND")
        return found

    def projects(self, info: Any, where: Any = None, skip: int = 0, first: int = 100) -> list[dict[str, Any]]:
        views = [self.state.project_view(p) for p in self.state.projects]
        return [v for v in views if v][skip : skip + first]

    def datasets(self, info: Any, where: Any = None, skip: int = 0, first: int = 100) -> list[dict[str, Any]]:
        views = [self.state.dataset_view(d) for d in self.state.datasets]
        return [v for v in views if v][skip : skip + first]

    def task(self, info: Any, where: dict[str, Any] | None = None) -> dict[str, Any] | None:
        task = self.state.tasks.get(str((where or {}).get("id")))
        return None if task is None else self._task(task)

    def dataRowsForGlobalKeys(self, info: Any, where: dict[str, Any]) -> dict[str, Any]:
        return {"jobId": self.state.start_lookup([str(key) for key in where["ids"]])}

    def dataRowsForGlobalKeysResult(self, info: Any, jobId: dict[str, Any]) -> dict[str, Any]:
        job = self.state.lookups.get(str(jobId["id"]))
        if job is None:
            raise LabelboxError("Resource not found", "RESOURCE_NOT_FOUND")
        job["reads"] += 1
        if job["reads"] <= self.state.lookup_reads:
            return {"data": None, "jobStatus": "IN_PROGRESS"}
        return {"data": job["data"], "jobStatus": "COMPLETE"}

    def cancelableTaskTypes(self, info: Any) -> list[str]:
        return list(CANCELABLE_TYPES)

    # -- mutations ---------------------------------------------------------------------------------

    def exportDataRowsInProject(self, info: Any, input: dict[str, Any]) -> dict[str, Any]:
        filters = input.get("filters") or {}
        project_id = str(filters.get("projectId") or "")
        project = self.state.projects.get(project_id)
        if project is None:
            raise LabelboxError("Resource not found", "RESOURCE_NOT_FOUND")
        lines = build_export(self.state, project_id, project["dataset_id"], filters)
        return self._export(input, lines, project_id)

    def exportDataRowsInCatalog(self, info: Any, input: dict[str, Any]) -> dict[str, Any]:
        filters = input.get("filters") or {}
        query = (filters.get("searchQuery") or {}).get("query") or []
        scope = query[-1] if query else {}
        dataset_id = (scope.get("ids") or [""])[0] if scope.get("type") == "dataset" else ""
        if dataset_id not in self.state.datasets:
            raise LabelboxError("Resource not found", "RESOURCE_NOT_FOUND")
        return self._export(input, build_export(self.state, None, dataset_id, filters))

    def _export(self, input: dict[str, Any], lines: ExportStream, project_id: str = "") -> dict[str, Any]:
        streams: dict[str, ExportStream | bytes] = {"RESULT": lines, "ERRORS": b""}
        name = str(input.get("taskName") or "Export v2")
        task = self.state.start_task(name, "export-data-rows", streams, project_id=project_id)
        return {"taskId": task.id, "isStreamable": bool(input.get("streamable"))}

    def successesfulDataRowImports(self, info: Any, data: dict[str, Any]) -> dict[str, Any]:
        rows, after = self._page(self._upsert_task(data).succeeded, data)
        return {"nodes": rows, "after": after, "total": len(self._upsert_task(data).succeeded)}

    def failedDataRowImports(self, info: Any, data: dict[str, Any]) -> dict[str, Any]:
        rows, after = self._page(self._upsert_task(data).failed, data)
        return {"results": rows, "after": after, "total": len(self._upsert_task(data).failed)}

    def _upsert_task(self, data: dict[str, Any]) -> Task:
        task = self.state.tasks.get(str(data["taskId"]))
        if task is None or task.type != "adv-upsert-data-rows":
            raise LabelboxError("Resource not found", "RESOURCE_NOT_FOUND")
        return task

    @staticmethod
    def _page(rows: list[dict[str, Any]], data: dict[str, Any]) -> tuple[list[dict[str, Any]], str | None]:
        start = int(data.get("from") or 0)
        first = int(data.get("first") or 100)
        after = str(start + first) if start + first < len(rows) else None
        return rows[start : start + first], after

    def uploadFile(self, info: Any, file: str, contentLength: int, sign: bool = False) -> dict[str, Any]:
        upload_id = str(file).removeprefix("upload:")
        if upload_id not in self.state.uploads:
            raise LabelboxError("The file part is missing from the multipart request", "MALFORMED_REQUEST")
        return {"url": f"{REQUEST_BASE_URL.get()}/_files/uploads/{upload_id}", "filename": upload_id}

    def upsertDataRows(self, info: Any, data: dict[str, Any]) -> dict[str, Any]:
        try:
            manifest = json.loads(self._uploaded(data["manifestUri"]))
            items = [item for uri in manifest["chunk_uris"] for item in json.loads(self._uploaded(uri))]
        except (ValueError, KeyError, TypeError) as error:
            raise LabelboxError(f"Bad manifest: {error}", "MALFORMED_REQUEST") from None
        done, refused = self.state.upsert(items)
        task = self.state.start_task("Upsert data rows", "adv-upsert-data-rows", {})
        task.succeeded, task.failed = done, refused
        return self._task(task)

    def _uploaded(self, url: str) -> bytes:
        return self.state.uploads[str(url).rsplit("/", 1)[1]]

    def labelImport(self, info: Any, where: dict[str, Any]) -> dict[str, Any] | None:
        return self._import_view("label", where["projectId"], where["name"])

    def modelAssistedLabelingPredictionImport(
        self, info: Any, where: dict[str, Any]
    ) -> dict[str, Any] | None:
        return self._import_view("prediction", where["projectId"], where["name"])

    def createLabelImport(self, info: Any, data: dict[str, Any]) -> dict[str, Any] | None:
        return self._create_import("label", data)

    def createModelAssistedLabelingPredictionImport(
        self, info: Any, data: dict[str, Any]
    ) -> dict[str, Any] | None:
        return self._create_import("prediction", data)

    def _create_import(self, kind: str, data: dict[str, Any]) -> dict[str, Any] | None:
        project_id = str(data["projectId"])
        if project_id not in self.state.projects:
            raise LabelboxError("Resource not found", "RESOURCE_NOT_FOUND")
        payload = data.get("filePayload")
        if not payload:
            raise LabelboxError("This emulator takes imports as files (filePayload)", "MALFORMED_REQUEST")
        content = self.state.uploads.get(str(payload["file"]).removeprefix("upload:"))
        if content is None:
            raise LabelboxError("The file part is missing from the multipart request", "MALFORMED_REQUEST")
        try:
            self.state.start_import(kind, project_id, str(data["name"]), content)
        except ValueError as error:
            raise LabelboxError(f"The import file is not NDJSON: {error}", "MALFORMED_REQUEST") from None
        return self._import_view(kind, project_id, str(data["name"]))

    def _import_view(self, kind: str, project_id: str, name: str) -> dict[str, Any] | None:
        found = self.state.imports.get((kind, project_id, name))
        if found is None:
            return None
        elapsed = time.time() - found["created"]
        running = elapsed < found["seconds"]
        base = f"{REQUEST_BASE_URL.get()}/_files/uploads/"
        files = {key: None if running else base + upload_id for key, upload_id in found["files"].items()}
        percent = min(100, int(100 * elapsed / max(found["seconds"], 1e-6)))
        return {
            "id": found["id"],
            "name": name,
            "state": "RUNNING" if running else "FINISHED",
            "progress": f"{percent}%",
            **files,
            "project": self.state.project_view(project_id),
        }

    def cancelBulkOperationJob(self, info: Any, id: str) -> dict[str, Any]:
        task = self.state.tasks.get(id)
        if task is None:
            raise LabelboxError("Resource not found", "RESOURCE_NOT_FOUND")
        if task.cancelled_at is None and task.status(time.time()) == "IN_PROGRESS":
            task.cancelled_at = time.time()
        return {"success": True}
