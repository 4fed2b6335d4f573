"""The Labelbox emulator's catalog: one organization and user, projects, datasets, data rows and their labels.

Seeded rows are not stored: row i of a dataset is made from i when asked for (a million rows cost nothing).
What is stored: rows created or changed since, by id, and their global keys; each row's workflow status in a
project and its last activity, where they changed since (seeded: labelled rows are Done, the others ToLabel,
all last active at :data:`STAMP`).
"""

from __future__ import annotations

import secrets
from datetime import datetime, timezone
from typing import Any

ORG_ID = "ckorg00000000000000000001"
USER_ID = "ckuser0000000000000000001"
DEMO_PROJECT_ID = "ckproj0000000000000000001"
DEMO_DATASET_ID = "ckds000000000000000000001"
STAMP = "2025-01-01T00:00:00.000Z"  # when everything seeded was made
WORKFLOW_STATUSES = ("ToLabel", "InReview", "InRework", "Done")  # as the export filters name them


def now_text() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + "000Z"


def time_text(moment: datetime) -> str:
    """A time as Labelbox writes one, to the millisecond."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def new_id(prefix: str) -> str:
    return prefix + secrets.token_hex(11)[:21]


def seeded(ident: str, name: str, what: str) -> dict[str, Any]:
    """The fields every seeded project and dataset has."""
    return {
        "id": ident,
        "name": name,
        "description": f"Seeded {what}",
        "createdAt": STAMP,
        "updatedAt": STAMP,
    }


class Catalog:
    """Projects, datasets and rows; ``rows``: how many rows the demo dataset is seeded with."""

    def __init__(self, *, rows: int) -> None:
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
        self.seeded: dict[str, int] = {}  # dataset -> how many rows were seeded
        self._datasets_by_tail: dict[str, str] = {}  # the last 6 characters of a dataset id -> the id
        self.data_rows: dict[str, dict[str, Any]] = {}
        self.keys: dict[str, str] = {}  # global key -> id, for the rows in data_rows
        self.created: dict[str, list[str]] = {}  # dataset -> ids of the rows created in it, in order
        self.labels: dict[tuple[str, str], list[dict[str, Any]]] = {}  # imported labels: (project, row)
        self.workflow: dict[
            tuple[str, str], str
        ] = {}  # (project, row) -> a workflow status set since seeding
        self.activity: dict[str, str] = {}  # row -> its last activity, where it had any since seeding
        self.add_dataset(DEMO_DATASET_ID, "emulator-dataset", rows)
        self.add_project(DEMO_PROJECT_ID, "emulator-project", DEMO_DATASET_ID)

    # -- seeding -----------------------------------------------------------------------------------

    def add_dataset(self, dataset_id: str, name: str, rows: int) -> None:
        self.datasets[dataset_id] = seeded(dataset_id, name, "dataset")
        self._datasets_by_tail[dataset_id[-6:]] = dataset_id
        self.seeded[dataset_id] = 0
        self.created[dataset_id] = []
        self.add_rows(dataset_id, rows)

    def add_rows(self, dataset_id: str, count: int) -> None:
        self.seeded[dataset_id] += count

    def add_project(self, project_id: str, name: str, dataset_id: str) -> None:
        self.projects[project_id] = {
            **seeded(project_id, name, "project"),
            "dataset_id": dataset_id,
            # Every other row seeded so far (the even ones) is labelled and done; the rest wait to be.
            "labelled_below": self.seeded[dataset_id],
            "autoAuditNumberOfLabels": 1,
            "autoAuditPercentage": 1.0,
            "lastActivityTime": STAMP,
            "allowedMediaType": "IMAGE",
            "isBenchmarkEnabled": False,
            "isConsensusEnabled": False,
            "editorTaskType": None,
            "modelSetupComplete": None,
            "setupComplete": None,
            "uploadType": "Auto",
        }

    # -- rows --------------------------------------------------------------------------------------

    def seeded_row(self, dataset_id: str, index: int) -> dict[str, Any]:
        tail = dataset_id[-6:]
        return {
            "id": f"ckdr{tail}{index:012d}",
            "dataset_id": dataset_id,
            "seed": index,
            "global_key": f"{tail}-{index}",
            "external_id": f"image-{index}.jpg",
            "row_data": f"https://storage.example.com/images/{index}.jpg",
        }

    def row(self, row_id: str) -> dict[str, Any] | None:
        """A row by id, as it is now."""
        if row_id in self.data_rows:
            return self.data_rows[row_id]
        dataset_id = self._datasets_by_tail.get(row_id[4:10])
        if dataset_id is None or len(row_id) != 22 or not row_id[10:].isdigit():
            return None
        index = int(row_id[10:])
        return self.seeded_row(dataset_id, index) if index < self.seeded[dataset_id] else None

    def row_by_key(self, key: str) -> dict[str, Any] | None:
        if key in self.keys:
            return self.data_rows[self.keys[key]]
        tail, _, index = key.rpartition("-")
        dataset_id = self._datasets_by_tail.get(tail)
        if dataset_id is None or not index.isdigit() or int(index) >= self.seeded[dataset_id]:
            return None
        row = self.row(self.seeded_row(dataset_id, int(index))["id"])
        return row if row is not None and row.get("global_key") == key else None  # its key may have changed

    def store(self, row: dict[str, Any]) -> None:
        """Keep a row created or changed (a seeded row from then on is this copy)."""
        old = self.data_rows.get(row["id"])
        if old is not None and old.get("global_key") and self.keys.get(old["global_key"]) == row["id"]:
            del self.keys[old["global_key"]]
        if old is None and row.get("seed") is None:
            self.created[row["dataset_id"]].append(row["id"])
        self.data_rows[row["id"]] = row
        if row.get("global_key"):
            self.keys[row["global_key"]] = row["id"]

    def row_count(self, dataset_id: str) -> int:
        return self.seeded[dataset_id] + len(self.created[dataset_id])

    def rows_of(self, dataset_id: str) -> list[str]:
        """Every row id of a dataset (for tests: a million-row dataset makes a million ids)."""
        tail = dataset_id[-6:]
        return [f"ckdr{tail}{i:012d}" for i in range(self.seeded[dataset_id])] + self.created[dataset_id]

    def _seed_labelled(self, project_id: str, row: dict[str, Any]) -> bool:
        seed = row.get("seed")
        return seed is not None and seed % 2 == 0 and seed < self.projects[project_id]["labelled_below"]

    def labels_of(self, project_id: str, row: dict[str, Any]) -> list[dict[str, Any]]:
        """A row's labels in a project: seeded (every other seeded row), then imported."""
        seeded = [{"id": f"cklabel{row['id'][-12:]}", "annotations": {"objects": []}}]
        return (seeded if self._seed_labelled(project_id, row) else []) + self.labels.get(
            (project_id, row["id"]), []
        )

    def labelled_rows(self, project_id: str) -> int:
        """How many of a project's rows have a label (what a Done export holds)."""
        imported = {r for (p, r), labels in self.labels.items() if p == project_id and labels}
        unseeded = [r for r in imported if not self._seed_labelled(project_id, self.row(r) or {})]
        return (self.projects[project_id]["labelled_below"] + 1) // 2 + len(unseeded)

    def status_of(self, project_id: str, row: dict[str, Any]) -> str:
        """A row's workflow status in a project: as set, else Done once labelled, else ToLabel."""
        set_to = self.workflow.get((project_id, row["id"]))
        return set_to or ("Done" if self.labels_of(project_id, row) else "ToLabel")

    def last_activity(self, row: dict[str, Any]) -> str:
        return self.activity.get(row["id"], STAMP)

    def set_workflow(
        self,
        project_id: str,
        row_ids: list[str],
        status: str,
        at: datetime | None = None,
        label_at: datetime | None = None,
    ) -> list[dict[str, Any]]:
        """Move rows of a project to ``status`` at ``at`` (default now: their last activity). A row moved past
        ToLabel without a label gets one, made at ``label_at`` (default ``at``); with ``label_at`` it gets one
        anyway. The rows as they are then (id, status, last activity).

        :raises KeyError: no such project or row, or status."""
        if status not in WORKFLOW_STATUSES or project_id not in self.projects:
            raise KeyError(status if project_id in self.projects else project_id)
        moment = at or datetime.now(timezone.utc)
        changed = []
        for row_id in row_ids:
            row = self.row(row_id)
            if row is None:
                raise KeyError(row_id)
            if label_at is not None or (status != "ToLabel" and not self.labels_of(project_id, row)):
                label = {
                    "id": new_id("cklabel"),
                    "label_details": {"created_at": time_text(label_at or moment)},
                }
                self.labels.setdefault((project_id, row_id), []).append(label)
            self.workflow[project_id, row_id] = status
            self.activity[row_id] = time_text(moment)
            changed.append({"id": row_id, "status": status, "last_activity_at": self.activity[row_id]})
        return changed

    # -- views -------------------------------------------------------------------------------------

    def project_view(self, project_id: str) -> dict[str, Any] | None:
        project = self.projects.get(project_id)
        if project is None:
            return None
        view = {k: v for k, v in project.items() if k != "dataset_id"}
        view["dataRowCount"] = self.row_count(project["dataset_id"])
        return view

    def dataset_view(self, dataset_id: str) -> dict[str, Any] | None:
        dataset = self.datasets.get(dataset_id)
        if dataset is None:
            return None
        return {**dataset, "rowCount": self.row_count(dataset_id)}
