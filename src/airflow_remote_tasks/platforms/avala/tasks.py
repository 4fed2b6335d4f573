"""Avala's annotation tasks, which people do: one found by uid, or a project's set listed for a set wait."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_remote_tasks.core.errors import ConfigurationError
from airflow_remote_tasks.core.listing import KnownScopes, check_selector_fields
from airflow_remote_tasks.core.models import ListedRun, RunRef
from airflow_remote_tasks.core.operation import Operation
from airflow_remote_tasks.platforms.avala import PLATFORM
from airflow_remote_tasks.platforms.avala.api import AvalaApi
from airflow_remote_tasks.platforms.avala.runs import StatusWords, ref_of
from airflow_remote_tasks.platforms.avala.wire import api_path

SELECTOR_FIELDS = ("project", "status", "type")


def find_task(api: AvalaApi, run_id: str) -> Operation[RunRef]:
    """The annotation task ``run_id`` (a uid).

    :raises ConfigurationError: ``run_id`` is not an Avala uid (a path, a URL).
    :raises NotFoundError: no such task is visible to the key."""
    run_id = PLATFORM.check_run_id(run_id)
    task = yield from api.call("GET", api_path("tasks", run_id))
    return ref_of(api.config, "task", run_id, str(task.get("project") or ""))


def check_selector(selector: Mapping[str, Any]) -> dict[str, Any]:
    """:raises ConfigurationError: a field Avala's task listing does not take, or no ``project``."""
    check_selector_fields(selector, SELECTOR_FIELDS, "Avala task selectors")
    if not selector.get("project"):
        raise ConfigurationError("An Avala task selector needs 'project' (its uid).")
    return dict(selector)


class TaskListings:
    """Listings of a project's tasks, and the projects seen to exist, so that a listing with tasks in it needs
    no lookup. One object serves every wait on the connection in the process: an empty listing looks again."""

    def __init__(self, api: AvalaApi, words: StatusWords) -> None:
        self.api = api
        self.words = words
        self._known_projects: KnownScopes[str] = KnownScopes()

    def list_runs(self, selector: Mapping[str, Any]) -> Operation[list[ListedRun]]:
        """GET /tasks/ filtered by project and status, every cursor page; ``type`` is matched here, since the
        listing takes no type filter.

        :raises NotFoundError: the selector's project does not exist (or the key cannot see it): looked up
            before its first listing, and again whenever a listing is empty (the project may have been deleted,
            or the key lost access, since), because a listing filtered on an unknown project may answer an
            empty page, a wait forever."""
        project = selector["project"]

        def look_up() -> Operation[None]:
            return self.api.check_exists("projects", project, " (the selector's 'project')")

        def listing() -> Operation[list[dict[str, Any]]]:
            return self.api.listing("tasks", {"project": project, "status": selector.get("status")})

        tasks = yield from self._known_projects.listing(project, look_up, listing)
        wanted = selector.get("type")
        return [
            ListedRun(run_id=str(t["uid"]), status=self.words.status_of("task", t))
            for t in tasks
            if not wanted or t.get("type") == wanted
        ]
