"""The Labelbox emulator's world: one organization and user, projects, datasets, data rows, labels, tasks."""

from __future__ import annotations

import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

ORG_ID = "ckorg00000000000000000001"
USER_ID = "ckuser0000000000000000001"
OTHER_USER_ID = "ckuser0000000000000000002"  # starts tasks "in the app", which only the organization lists
DEMO_PROJECT_ID = "ckproj0000000000000000001"
DEMO_DATASET_ID = "ckds000000000000000000001"
CANCELABLE_TYPES = ("exportDataRows", "advUpsertDataRows")
STAMP = "2025-01-01T00:00:00.000Z"


def now_text() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + "000Z"


def new_id(prefix: str) -> str:
    return prefix + secrets.token_hex(11)[:21]


@dataclass
class Task:
    id: str
    name: str
    type: str
    owner: str
    created: float
    seconds: float
    outcome: str = "COMPLETE"  # what it ends as
    streams: dict[str, bytes] = field(default_factory=dict)  # RESULT / ERRORS of an export
    succeeded: list[dict[str, Any]] = field(
        default_factory=list
    )  # an upsert's rows, as the results list them
    failed: list[dict[str, Any]] = field(default_factory=list)
    cancelled_at: float | None = None
    created_at: str = field(default_factory=now_text)

    def status(self, at: float) -> str:
        if self.cancelled_at is not None:
            return "CANCELED" if at >= self.cancelled_at + 0.2 else "CANCELLING"
        return "IN_PROGRESS" if at < self.created + self.seconds else self.outcome

    def percent(self, at: float) -> float:
        if self.status(at) != "IN_PROGRESS":
            return 100.0
        return round(100.0 * (at - self.created) / max(self.seconds, 1e-6), 1)


class LabelboxState:
    """In-memory Labelbox. ``task_seconds``: how long a task stays IN_PROGRESS; ``chunk_bytes``: the largest
    export part one exportFileFromOffset answer points at (parts end at a line's end)."""

    def __init__(self, *, task_seconds: float = 1.0, chunk_bytes: int = 1 << 20, rows: int = 6) -> None:
        self.task_seconds = task_seconds
        self.chunk_bytes = chunk_bytes
        self.lock = threading.Lock()
        self.organization = {
            "id": ORG_ID,
            "name": "Emulated Organization",
            "createdAt": STAMP,
            "updatedAt": STAMP,
        }
        self.user = {
            "id": USER_ID,
            "email": "airflow@example.com",
            "name": "Emulator User",
            "nickname": "airflow",
            "isExternalUser": False,
            "isViewer": False,
            "picture": None,
            "timezone": None,
            "createdAt": STAMP,
            "updatedAt": STAMP,
            "lastLoginAt": STAMP,
        }
        self.projects: dict[str, dict[str, Any]] = {}
        self.datasets: dict[str, dict[str, Any]] = {}
        self.data_rows: dict[str, dict[str, Any]] = {}
        self.labels: dict[tuple[str, str], list[dict[str, Any]]] = {}  # (project, data row) -> labels
        self.tasks: dict[str, Task] = {}
        self.fail_next = 0  # the next N tasks end FAILED
        self.uploads: dict[str, bytes] = {}  # uploaded files by id (the URL's last part)
        # label and prediction imports by (kind, project, name): Labelbox polls them by project and name
        self.imports: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.predictions: dict[tuple[str, str], list[dict[str, Any]]] = {}  # pre-labels, not labels
        self.add_dataset(DEMO_DATASET_ID, "emulator-dataset", rows)
        self.add_project(DEMO_PROJECT_ID, "emulator-project", DEMO_DATASET_ID)

    # -- seeding -----------------------------------------------------------------------------------

    def add_dataset(self, dataset_id: str, name: str, rows: int) -> None:
        self.datasets[dataset_id] = {
            "id": dataset_id,
            "name": name,
            "description": "Seeded dataset",
            "createdAt": STAMP,
            "updatedAt": STAMP,
        }
        self.add_rows(dataset_id, rows)

    def add_rows(self, dataset_id: str, count: int) -> None:
        start = sum(1 for r in self.data_rows.values() if r["dataset_id"] == dataset_id)
        for index in range(start, start + count):
            row_id = f"ckdr{dataset_id[-6:]}{index:012d}"
            self.data_rows[row_id] = {
                "id": row_id,
                "dataset_id": dataset_id,
                "global_key": f"{dataset_id[-6:]}-{index}",
                "external_id": f"image-{index}.jpg",
                "row_data": f"https://storage.example.com/images/{index}.jpg",
            }

    def add_project(self, project_id: str, name: str, dataset_id: str) -> None:
        self.projects[project_id] = {
            "id": project_id,
            "name": name,
            "description": "Seeded project",
            "dataset_id": dataset_id,
            "autoAuditNumberOfLabels": 1,
            "autoAuditPercentage": 1.0,
            "createdAt": STAMP,
            "updatedAt": STAMP,
            "lastActivityTime": STAMP,
            "allowedMediaType": "IMAGE",
            "isBenchmarkEnabled": False,
            "isConsensusEnabled": False,
            "editorTaskType": None,
            "modelSetupComplete": None,
            "setupComplete": None,
            "uploadType": "Auto",
        }
        # Every other row of the project's dataset is labelled and done; the rest wait to be labelled.
        for index, row_id in enumerate(self.rows_of(dataset_id)):
            if index % 2 == 0:
                self.labels[(project_id, row_id)] = [
                    {"id": f"cklabel{row_id[-12:]}", "annotations": {"objects": []}}
                ]

    def rows_of(self, dataset_id: str) -> list[str]:
        return [r["id"] for r in self.data_rows.values() if r["dataset_id"] == dataset_id]

    # -- views -------------------------------------------------------------------------------------

    def project_view(self, project_id: str) -> dict[str, Any] | None:
        project = self.projects.get(project_id)
        if project is None:
            return None
        view = {k: v for k, v in project.items() if k != "dataset_id"}
        view["dataRowCount"] = len(self.rows_of(project["dataset_id"]))
        return view

    def dataset_view(self, dataset_id: str) -> dict[str, Any] | None:
        dataset = self.datasets.get(dataset_id)
        if dataset is None:
            return None
        return {**dataset, "rowCount": len(self.rows_of(dataset_id))}

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
            "updatedAt": now_text(),
            "errors": f"https://storage.example.com/errors/{task.id}.json" if status == "FAILED" else None,
            "result": None,
            "metadata": None,
        }

    # -- tasks -------------------------------------------------------------------------------------

    def start_task(self, name: str, kind: str, streams: dict[str, bytes], owner: str = USER_ID) -> Task:
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
                streams=streams,
            )
            self.tasks[task.id] = task
            return task

    def export_lines(self, project_id: str | None, dataset_id: str, filters: dict[str, Any]) -> bytes:
        """The export of a project or a dataset as it is now, one JSON object a line, as the brief shows."""
        query = (filters.get("searchQuery") or {}).get("query") or []
        wanted_status = next((q.get("status") for q in query if q.get("type") == "task_queue_status"), None)
        unlabelled_only = any(q.get("type") == "task_queue_not_exist" for q in query)
        ids = next((set(q["ids"]) for q in query if q.get("type") == "data_row_id"), None)
        keys = next((set(q["ids"]) for q in query if q.get("type") == "global_key"), None)
        lines = []
        for row_id in self.rows_of(dataset_id):
            row = self.data_rows[row_id]
            if (ids is not None and row_id not in ids) or (
                keys is not None and row["global_key"] not in keys
            ):
                continue
            line: dict[str, Any] = {
                "data_row": {
                    "id": row_id,
                    "external_id": row["external_id"],
                    "row_data": row["row_data"],
                    "global_key": row["global_key"],
                    "details": {"dataset_id": dataset_id, "dataset_name": self.datasets[dataset_id]["name"]},
                },
                "media_attributes": {"mime_type": "image/jpeg"},
            }
            if project_id is not None:
                labels = self.labels.get((project_id, row_id), [])
                done = bool(labels)
                if (wanted_status == "Done" and not done) or (unlabelled_only and done):
                    continue
                if wanted_status in ("InReview", "InRework"):
                    continue  # nothing is in review on the emulator
                line["projects"] = {project_id: {"name": self.projects[project_id]["name"], "labels": labels}}
            lines.append(json.dumps(line, separators=(",", ":")))
        return ("\n".join(lines) + "\n").encode() if lines else b""

    def upsert(self, items: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Apply upsert items (``{"id": {"type", "value"}, "payload": {...}}``); the rows done and refused."""
        done: list[dict[str, Any]] = []
        refused: list[dict[str, Any]] = []
        by_key = {r["global_key"]: r for r in self.data_rows.values() if r.get("global_key")}
        for item in items:
            key, payload = item.get("id") or {}, item.get("payload") or {}
            kind, value = key.get("type"), key.get("value")
            value = str(value or "")
            row = by_key.get(value) if kind == "GKEY" else self.data_rows.get(value) if kind == "ID" else None
            dataset_id = payload.get("dataset_id")
            problem = ""
            if dataset_id not in self.datasets:
                problem = f"Dataset {dataset_id!r} not found"
            elif row is None and kind == "ID":
                problem = f"Data row {value!r} not found"
            elif row is None and not payload.get("row_data"):
                problem = "row_data is required to create a data row"
            if problem:
                refused.append({"message": problem, "spec": _spec(payload)})
                continue
            if row is None:
                row_id = new_id("ckdr")
                row = {
                    "id": row_id,
                    "dataset_id": dataset_id,
                    "global_key": value if kind == "GKEY" else None,
                }
                self.data_rows[row_id] = row
                if row["global_key"]:
                    by_key[row["global_key"]] = row
            for name in ("row_data", "external_id", "global_key"):
                if payload.get(name) is not None:
                    row[name] = payload[name]
            row.setdefault("external_id", None)
            done.append(
                {
                    "id": row["id"],
                    "externalId": row.get("external_id"),
                    "globalKey": row.get("global_key"),
                    "rowData": row.get("row_data"),
                }
            )
        return done, refused

    def start_import(self, kind: str, project_id: str, name: str, content: bytes) -> dict[str, Any]:
        """Read the annotations, record each one's status, and apply the ones whose data row is in the
        project: labels become the project's labels (the next export shows them), predictions pre-labels."""
        dataset_id = self.projects[project_id]["dataset_id"]
        rows = {r["id"]: r for r in self.data_rows.values() if r["dataset_id"] == dataset_id}
        by_key = {r["global_key"]: r for r in rows.values() if r.get("global_key")}
        statuses = []
        for line in content.splitlines():
            if not line.strip():
                continue
            item = json.loads(line)
            ref = item.get("dataRow") or {}
            row = rows.get(ref.get("id")) or by_key.get(ref.get("globalKey"))
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
                store.setdefault((project_id, row["id"]), []).append(
                    {"id": new_id("cklabel"), "annotation": item}
                )
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
        data = task.streams.get(stream, b"")
        end = min(offset + self.chunk_bytes, len(data)) - 1
        newline = data.find(b"\n", end)
        if end < len(data) - 1 and newline != -1:
            end = newline
        return offset, end

    def summary(self) -> list[dict[str, Any]]:
        return [
            {**self.task_view(t), "owner": t.owner, "sizes": {k: len(v) for k, v in t.streams.items()}}
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
