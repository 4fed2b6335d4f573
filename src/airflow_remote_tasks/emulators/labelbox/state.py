"""The Labelbox emulator's jobs on its catalog: tasks (exports, upserts), label and prediction imports,
global-key lookups, and the uploaded files they read and write."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from airflow_remote_tasks.emulators.labelbox.catalog import USER_ID, Catalog, new_id, now_text
from airflow_remote_tasks.emulators.labelbox.stream import ExportStream

CANCELABLE_TYPES = ("exportDataRows", "advUpsertDataRows")
CANCEL_SECONDS = 0.2  # how long a cancelled task stays CANCELLING


@dataclass
class Task:
    id: str
    name: str
    type: str
    owner: str
    created: float
    seconds: float
    outcome: str = "COMPLETE"  # what it ends as
    streams: dict[str, ExportStream] = field(default_factory=dict)  # RESULT / ERRORS of an export
    # an upsert's rows, as the results list them
    succeeded: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    cancelled_at: float | None = None
    created_at: str = field(default_factory=now_text)
    project_id: str = ""  # an export's project, where it is a project's

    def ended_at(self, at: float) -> float | None:
        """When it ended (None: not yet)."""
        if self.cancelled_at is not None:
            ended = self.cancelled_at + CANCEL_SECONDS
        else:
            ended = self.created + self.seconds
        return ended if at >= ended else None

    def status(self, at: float) -> str:
        if self.cancelled_at is not None:
            return "CANCELED" if at >= self.cancelled_at + CANCEL_SECONDS else "CANCELLING"
        return "IN_PROGRESS" if at < self.created + self.seconds else self.outcome

    def percent(self, at: float) -> float:
        if self.status(at) != "IN_PROGRESS":
            return 100.0
        return round(100.0 * (at - self.created) / max(self.seconds, 1e-6), 1)


class LabelboxState(Catalog):
    """In-memory Labelbox. ``task_seconds``: how long a task stays IN_PROGRESS; ``chunk_bytes``: the largest
    export part one exportFileFromOffset answer points at (parts end at a line's end)."""

    def __init__(self, *, task_seconds: float = 1.0, chunk_bytes: int = 1 << 20, rows: int = 6) -> None:
        super().__init__(rows=rows)
        self.task_seconds = task_seconds
        self.chunk_bytes = chunk_bytes
        self.lock = threading.Lock()
        self.tasks: dict[str, Task] = {}
        self.fail_next = 0  # the next N tasks end FAILED
        # GUESS (Labelbox documents no task metadata): whether a project export's task names its project in
        # its metadata ({"projectId": ...}). The provider is tested against both answers.
        self.task_metadata_projects = True
        self.uploads: dict[str, bytes] = {}  # uploaded files by id (the URL's last part)
        # label and prediction imports by (kind, project, name): Labelbox polls them by project and name
        self.imports: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.predictions: dict[tuple[str, str], list[dict[str, Any]]] = {}  # pre-labels, not labels
        # GUESS (documented nowhere): whether a GKEY spec naming an unknown global key creates a row. The
        # default refuses it as not found; True creates it. The provider is tested against both.
        self.gkey_creates = False
        self.lookups: dict[str, dict[str, Any]] = {}  # global-key lookup jobs by id
        self.lookup_reads = 0  # a lookup job answers IN_PROGRESS to this many reads before its result

    def task_view(self, task: Task) -> dict[str, Any]:
        at = time.time()
        status = task.status(at)
        return {
            "id": task.id,
            "name": task.name,
            "type": task.type,
            "status": status,
            "completionPercentage": task.percent(at),
            "createdAt": task.created_at,
            "updatedAt": self._updated_at(task, at),
            "errors": f"https://storage.example.com/errors/{task.id}.json" if status == "FAILED" else None,
            "result": None,
            "metadata": {"projectId": task.project_id}
            if self.task_metadata_projects and task.project_id
            else None,
        }

    @staticmethod
    def _updated_at(task: Task, at: float) -> str:
        """A running task changes as it goes (now); an ended one last changed when it ended."""
        ended = task.ended_at(at)
        if ended is None:
            return now_text()
        return datetime.fromtimestamp(ended, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"

    # -- tasks -------------------------------------------------------------------------------------

    def start_task(
        self,
        name: str,
        kind: str,
        streams: dict[str, ExportStream | bytes],
        owner: str = USER_ID,
        project_id: str = "",
    ) -> Task:
        with self.lock:
            outcome = "COMPLETE"
            if self.fail_next > 0:
                self.fail_next -= 1
                outcome = "FAILED"
            task = Task(
                id=new_id("cktask"),
                name=name,
                type=kind,
                owner=owner,
                created=time.time(),
                seconds=self.task_seconds,
                outcome=outcome,
                project_id=project_id,
                streams={
                    k: v if isinstance(v, ExportStream) else ExportStream.of_bytes(v)
                    for k, v in streams.items()
                },
            )
            self.tasks[task.id] = task
            return task

    def upsert(self, items: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Apply upsert items (``{"id": {"type", "value"}, "payload": {...}}``); the rows done and refused.
        ``AUTO`` creates a row (refused when its global key is taken), ``ID`` and ``GKEY`` update one; a
        ``GKEY`` naming no row creates it only with :attr:`gkey_creates`."""
        done: list[dict[str, Any]] = []
        refused: list[dict[str, Any]] = []
        for item in items:
            key, payload = item.get("id") or {}, item.get("payload") or {}
            kind, value = key.get("type"), str(key.get("value") or "")
            row = self.row_by_key(value) if kind == "GKEY" else self.row(value) if kind == "ID" else None
            new_key = str(payload.get("global_key") or "")
            problem = next(
                (
                    text
                    for failed, text in (
                        (
                            payload.get("dataset_id") not in self.datasets,
                            f"Dataset {payload.get('dataset_id')!r} not found",
                        ),
                        (kind not in ("AUTO", "ID", "GKEY"), f"Unknown data row key type {kind!r}"),
                        (row is None and kind == "ID", f"Data row {value!r} not found"),
                        (
                            row is None and kind == "GKEY" and not self.gkey_creates,
                            f"Data row with global key {value!r} not found",
                        ),
                        (
                            row is None and not payload.get("row_data"),
                            "row_data is required to create a data row",
                        ),
                        (
                            bool(new_key) and self.row_by_key(new_key) not in (None, row),
                            f"Duplicate global key: {new_key!r}",
                        ),
                    )
                    if failed
                ),
                "",
            )
            if problem:
                refused.append({"message": problem, "spec": _spec(payload)})
                continue
            if row is None:
                row = {
                    "id": new_id("ckdr"),
                    "dataset_id": payload["dataset_id"],
                    "seed": None,
                    "external_id": None,
                }
                row["global_key"] = value if kind == "GKEY" else None
            row = dict(row)
            for name in ("row_data", "external_id", "global_key"):
                if payload.get(name) is not None:
                    row[name] = payload[name]
            self.store(row)
            done.append(
                {
                    "id": row["id"],
                    "externalId": row.get("external_id"),
                    "globalKey": row.get("global_key"),
                    "rowData": row.get("row_data"),
                }
            )
        return done, refused

    def start_lookup(self, keys: list[str]) -> str:
        """A global-key lookup job (answered after :attr:`lookup_reads` reads of its result)."""
        rows = {key: self.row_by_key(key) for key in keys}
        job_id = new_id("cklookup")
        self.lookups[job_id] = {
            "reads": 0,
            "data": {
                "fetchedDataRows": [{"id": row["id"] if row else ""} for row in rows.values()],
                "notFoundGlobalKeys": [key for key, row in rows.items() if row is None],
                "accessDeniedGlobalKeys": [],
            },
        }
        return job_id

    def start_import(self, kind: str, project_id: str, name: str, content: bytes) -> dict[str, Any]:
        """Read the annotations, record each one's status, and apply the ones whose data row is in the
        project: labels become the project's labels (the next export shows them), predictions pre-labels."""
        dataset_id = self.projects[project_id]["dataset_id"]
        statuses = []
        for line in content.splitlines():
            if not line.strip():
                continue
            item = json.loads(line)
            ref = item.get("dataRow") or {}
            row = self.row(str(ref["id"])) if ref.get("id") else self.row_by_key(str(ref.get("globalKey")))
            row = row if row is not None and row["dataset_id"] == dataset_id else None
            entry: dict[str, Any] = {
                "uuid": item.get("uuid"),
                "dataRow": {"id": row["id"] if row else ref.get("id")},
            }
            if row is None:
                entry.update(
                    status="FAILURE", errors=[{"name": "DataRowNotFound", "message": "dataRow not found"}]
                )
            else:
                entry["status"] = "SUCCESS"
                store = self.labels if kind == "label" else self.predictions
                made: dict[str, Any] = {"id": new_id("cklabel"), "annotation": item}
                if kind == "label":  # a label made now: activity on its row
                    made["label_details"] = {"created_at": now_text()}
                    self.activity[row["id"]] = now_text()
                store.setdefault((project_id, row["id"]), []).append(made)
            statuses.append(entry)
        status_id, error_id, input_id = new_id("status"), new_id("errors"), new_id("input")
        self.uploads[status_id] = "".join(json.dumps(e) + "\n" for e in statuses).encode()
        self.uploads[error_id] = "".join(
            json.dumps(e) + "\n" for e in statuses if e["status"] != "SUCCESS"
        ).encode()
        self.uploads[input_id] = content
        found = {
            "id": new_id("ckimp"),
            "name": name,
            "project_id": project_id,
            "created": time.time(),
            "seconds": self.task_seconds,
            "files": {"statusFileUrl": status_id, "errorFileUrl": error_id, "inputFileUrl": input_id},
        }
        self.imports[(kind, project_id, name)] = found
        return found

    def chunk(self, task: Task, stream: str, offset: int) -> tuple[int, int]:
        """The byte range of the part that starts at ``offset``: at most ``chunk_bytes``, ending a line."""
        data = task.streams[stream]
        return offset, data.line_end(min(offset + self.chunk_bytes, data.size) - 1)

    def link_facts(self, kind: str, ident: str) -> tuple[str, dict[str, Any]] | None:
        """What the page a link opens shows (``kind``: tasks, projects or catalog), or None for no such thing."""
        if kind == "tasks" and ident in self.tasks:
            view = self.task_view(self.tasks[ident])
            facts = {k: view[k] for k in ("id", "type", "status", "completionPercentage", "createdAt")}
            return f"Labelbox task {view['name']}", facts
        if kind == "projects" and ident in self.projects:
            project = self.project_view(ident) or {}
            return f"Labelbox project {project['name']}", {"id": ident, "data rows": project["dataRowCount"]}
        if kind == "catalog" and ident in self.datasets:
            dataset = self.dataset_view(ident) or {}
            return f"Labelbox dataset {dataset['name']}", {"id": ident, "data rows": dataset["rowCount"]}
        return None

    def summary(self) -> list[dict[str, Any]]:
        return [
            {**self.task_view(t), "owner": t.owner, "sizes": {k: v.size for k, v in t.streams.items()}}
            for t in self.tasks.values()
        ]


def _spec(payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "externalId": payload.get("external_id"),
        "globalKey": payload.get("global_key"),
        "rowData": payload.get("row_data"),
        "metadata": [],
        "attachments": [
            {"type": a.get("type"), "value": a.get("value"), "name": a.get("name")}
            for a in payload.get("attachments") or []
        ],
    }
