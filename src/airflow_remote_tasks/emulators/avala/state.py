"""The Avala emulator's world: projects whose tasks people finish one after another, exports and auto-label
jobs that progress with the clock, and the rate-limit window every API call spends from."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from types import MappingProxyType
from typing import Any

DEMO_PROJECT = "proj-001"
SMALL_PROJECT = "proj-002"
DEMO_DATASET = "ds-001"
STAMP = "2026-01-01T00:00:00Z"  # when everything seeded was made
RATE_LIMIT = 1000  # calls per window, for the X-RateLimit-* headers
RATE_WINDOW = 60.0  # seconds a rate-limit window lasts
# X-RateLimit-Reset in each style, from when the window ends and now: seconds left, or the end's epoch time
RESET_STYLES: Mapping[str, Callable[[float, float], float]] = MappingProxyType(
    {"seconds": lambda ends, now: ends - now, "epoch": lambda ends, now: ends}
)
NEXT_STATUS: Mapping[str, str] = MappingProxyType({"pending": "active", "active": "completed"})


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
    remaining: int = RATE_LIMIT  # calls left in the window that began at window_started
    window: float = RATE_WINDOW
    window_started: float = field(default_factory=time.time)
    # Tests: after each page of /tasks/ is served, this many of the tasks on it move on to their next status
    # (people pick them up between a client's page reads).
    drift_per_page: int = 0
    reset_style: str = "seconds"  # X-RateLimit-Reset: "seconds" until the window resets, or its "epoch" time
    annotations_per_task: int = 2  # made-up annotations per task in an export: a big export is a few thousand

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

    def spend_call(self) -> None:
        """One API call off the window's allowance; once the window has passed, a new one starts, whole."""
        now = time.time()
        if now >= self.window_started + self.window:
            self.window_started, self.remaining = now, RATE_LIMIT
        self.remaining = max(self.remaining - 1, 0)

    def limit_headers(self) -> list[tuple[bytes, bytes]]:
        """The X-RateLimit-* headers: the reset in ``reset_style``, rounded up to a whole second."""
        reset = RESET_STYLES[self.reset_style](self.window_started + self.window, time.time())
        return [
            (b"x-ratelimit-limit", str(RATE_LIMIT).encode()),
            (b"x-ratelimit-remaining", str(self.remaining).encode()),
            (b"x-ratelimit-reset", str(max(math.ceil(reset), 0)).encode()),
        ]

    def task_view(self, task: dict[str, Any]) -> dict[str, Any]:
        """A task as the API shows it: its status set by a test (``status``, changed at ``updated_at``), or by
        the time people take (changed when it got there)."""
        elapsed = (time.time() - self.started) / max(self.pace, 1e-9)
        order = task["order"]
        status = "completed" if elapsed >= order + 1 else "active" if elapsed >= order else "pending"
        steps = {"completed": order + 1, "active": order}
        changed = STAMP if status not in steps else _stamp(self.started + steps[status] * self.pace)
        return {k: v for k, v in task.items() if k != "order"} | {
            "status": task.get("status") or status,
            "updated_at": task.get("updated_at") or changed,
        }

    def change_tasks(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """Tests: ``add`` new pending tasks to ``project`` (made if new), then move ``count`` of its tasks not
        in ``status`` to it (all of them when no count is given), changed now. Answers the project's counts.

        :raises ValueError: no project named (answered 400)."""
        project = str(payload.get("project") or "")
        if not project:
            raise ValueError("name the 'project' whose tasks change")
        now = _stamp(time.time())
        self.projects.setdefault(
            project, {"uid": project, "name": project, "status": "active", "created_at": now}
        )
        owned = [t for t in self.tasks.values() if t["project"] == project]
        for index in range(len(owned), len(owned) + int(payload.get("add", 0))):
            uid = f"task-{project}-{index:04d}"
            self.tasks[uid] = {"uid": uid, "type": "annotation", "name": f"Label image {index}"}
            self.tasks[uid] |= {"project": project, "order": index, "created_at": now}
            self.tasks[uid] |= {"status": "pending", "updated_at": now}
        if "status" in payload:
            status = str(payload["status"])
            moving = [t for t in self.tasks.values() if t["project"] == project]
            moving = [t for t in moving if self.task_view(t)["status"] != status]
            for task in moving[: int(payload.get("count", len(moving)))]:
                task["status"], task["updated_at"] = status, now
        counts: dict[str, int] = {}
        for task in self.tasks.values():
            if task["project"] == project:
                word = self.task_view(task)["status"]
                counts[word] = counts.get(word, 0) + 1
        return {"project": project, "counts": counts}

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


def _stamp(moment: float) -> str:
    """An epoch time as the API writes times (RFC 3339, UTC, microseconds)."""
    return datetime.fromtimestamp(moment, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
