"""Avala auto-label jobs: a model labels a project's items; started once (attached to after a lost answer),
cancelled, summed up when done."""

from __future__ import annotations

import contextlib
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from airflow_remote_tasks.core.create_once import create_once
from airflow_remote_tasks.core.errors import NotFoundError
from airflow_remote_tasks.core.models import RunRef
from airflow_remote_tasks.core.operation import Operation
from airflow_remote_tasks.platforms.avala.api import AvalaApi
from airflow_remote_tasks.platforms.avala.runs import StatusWords, ref_of
from airflow_remote_tasks.platforms.avala.wire import api_path

# A create whose answer was lost is sent once more, after a lookup that found no job: a second failure fails the
# task, which Airflow's retries take over.
CREATE_ATTEMPTS = 2
# What a finished job's output holds: the counts and summary of its answer.
SUMMARY_KEYS = (
    "total_items",
    "processed_items",
    "successful_items",
    "failed_items",
    "skipped_items",
    "summary",
)


class AutoLabel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    project: str = Field(min_length=1)
    model_type: str | None = None
    confidence_threshold: float | None = Field(default=None, ge=0, le=1)
    labels: list[str] | None = None
    dry_run: bool | None = None

    def body(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True, exclude={"project"})


def start_auto_label(api: AvalaApi, words: StatusWords, job: AutoLabel) -> Operation[RunRef]:
    """:raises NotFoundError: the project is not visible to the key; nothing was started.
    :raises RemoteTaskError: what the last create raised."""
    yield from api.check_exists("projects", job.project)

    def create() -> Operation[dict[str, Any]]:
        created = yield from api.call(
            "POST",
            api_path("projects", job.project, "auto-label"),
            body=job.body(),
            idempotent=False,
            shape="created",
        )
        return dict(created)

    # No lookup before the first create: a job carries no key of ours, so a matching one found then may be
    # someone else's. After a transient failure the job may have been created before the answer was lost:
    # attach to a matching unfinished one, else create it once more.
    created = yield from create_once(
        lambda: matching_auto_label(api, words, job), create, look_first=False, attempts=CREATE_ATTEMPTS
    )
    return ref_of(api.config, "auto_label", str(created["uid"]), job.project)


def matching_auto_label(
    api: AvalaApi, words: StatusWords, job: AutoLabel
) -> Operation[dict[str, Any] | None]:
    """An unfinished job of the project with the settings of ``job`` (whatever its ``dry_run``), or None."""
    jobs = yield from api.listing("auto-label-jobs", {"project": job.project})
    wanted = job.body()
    for found in jobs:
        phase = words.phase("auto_label", str(found.get("status") or ""))
        if not phase.is_terminal and all(found.get(k) == v for k, v in wanted.items() if k != "dry_run"):
            return dict(found)
    return None


def summary(ref: RunRef, found: dict[str, Any]) -> dict[str, Any]:
    """A job's output: its uid, counts and summary (``found``: the job as the API answers it)."""
    return {"run_id": ref.run_id, **{k: found.get(k) for k in SUMMARY_KEYS}}


def cancel(api: AvalaApi, ref: RunRef) -> Operation[bool]:
    """``DELETE`` the job; one that is gone already (cancelled before, or deleted twice) is no error."""
    with contextlib.suppress(NotFoundError):
        yield from api.call("DELETE", api_path("auto-label-jobs", ref.run_id), shape="any")
    return True
