"""The control plane's Connect services: TaskService, RunService and ProjectService, over :class:`.FlyteState`."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from typing import Any

from flyteidl2.common import phase_pb2
from flyteidl2.project import project_service_pb2 as ps
from flyteidl2.task import task_service_pb2 as ts
from flyteidl2.workflow import run_service_pb2 as rs

from airflow_remote_tasks.emulators.flyte.connect import (
    action_of,
    action_run,
    connect_error,
    descending,
    equal_filter,
    found,
    from_dict,
    lower_bound,
    page,
    run_of,
    to_dict,
)
from airflow_remote_tasks.emulators.flyte.state import PROJECTS, FlyteState
from airflow_remote_tasks.emulators.flyte.tasks import SeedTask, task_spec
from airflow_remote_tasks.emulators.flyte.watching import RunWatches

WATCH_INTERVAL = 0.05  # seconds between a watched action's looks at its run: phases change on the clock


class ControlPlane:
    """The methods of the control plane's services (the generated applications call them by name)."""

    state: FlyteState
    watches: RunWatches
    # Open-source Flyte rejects labels.* filters in ListRuns; Union is said to accept them (unverified): off
    # by default, as open-source Flyte does, and a test covers both answers.
    label_filters = False

    # -- TaskService ---------------------------------------------------------------------------

    def _task_dict(self, task: SeedTask, org: str, project: str, domain: str) -> dict[str, Any]:
        return {"org": org, "project": project, "domain": domain, "name": task.name, "version": task.version}

    async def list_tasks(self, request: ts.ListTasksRequest, ctx: Any) -> ts.ListTasksResponse:
        body = to_dict(request)
        project = body.get("projectId", {})
        listing = body.get("request", {})
        names = equal_filter(listing, "name")
        tasks = [t for t in self.state.tasks if not names or t.name in names]
        tasks = sorted(tasks, key=self.state.task_created_at, reverse=descending(listing))
        listed, token = page(tasks, listing)
        org = project.get("organization", body.get("org", ""))
        return from_dict(
            {
                "tasks": [
                    {
                        "taskId": self._task_dict(t, org, project.get("name", ""), project.get("domain", "")),
                        "metadata": {
                            "shortName": t.name.split(".")[-1],
                            "environmentName": t.name.split(".")[0],
                            "deployedAt": self.state.task_created_at(t),
                        },
                    }
                    for t in listed
                ],
                "token": token,
            },
            ts.ListTasksResponse(),
        )

    async def get_task_details(
        self, request: ts.GetTaskDetailsRequest, ctx: Any
    ) -> ts.GetTaskDetailsResponse:
        task_id = to_dict(request.task_id)
        task = found(lambda: self.state.find_task(task_id.get("name", ""), task_id.get("version", "")))
        details = {
            "taskId": task_id,
            "metadata": {"shortName": task.name.split(".")[-1], "environmentName": task.name.split(".")[0]},
            "spec": task_spec(task, task_id.get("project", ""), task_id.get("domain", "")),
        }
        return from_dict({"details": details}, ts.GetTaskDetailsResponse())

    # -- RunService ----------------------------------------------------------------------------

    def _inputs_of(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        if "offloadedInputData" in body:
            uri = body["offloadedInputData"].get("uri", "")
            if uri not in self.state.uploads:
                raise connect_error("invalid_argument", f"offloaded inputs {uri!r} were never uploaded")
            return self.state.uploads[uri]
        return list(body.get("inputs", {}).get("literals", []))

    async def create_run(self, request: rs.CreateRunRequest, ctx: Any) -> rs.CreateRunResponse:
        body = to_dict(request)
        if "taskId" not in body:
            raise connect_error("invalid_argument", "the emulator runs deployed tasks: set taskId")
        task_id = body["taskId"]
        if "runId" in body:
            run_id = body["runId"]
            org, project, domain, name = (
                run_id.get("org", ""),
                run_id.get("project", ""),
                run_id.get("domain", ""),
                run_id.get("name", ""),
            )
        elif "projectId" in body:
            p = body["projectId"]
            org, project, domain = p.get("organization", ""), p.get("name", ""), p.get("domain", "")
            name = "r" + secrets.token_hex(10)[:19]
        else:
            raise connect_error("invalid_argument", "one of runId or projectId is required")
        task = found(lambda: self.state.find_task(task_id.get("name", ""), task_id.get("version", "")))
        labels = body.get("runSpec", {}).get("labels", {}).get("values", {})
        run = found(
            lambda: self.state.create_run(
                org=org,
                project=project,
                domain=domain,
                name=name,
                task=task,
                input_literals=self._inputs_of(body),
                labels=labels,
            )
        )
        return from_dict({"run": {"action": action_of(run)}}, rs.CreateRunResponse())

    async def get_run_details(self, request: rs.GetRunDetailsRequest, ctx: Any) -> rs.GetRunDetailsResponse:
        run = run_of(self.state, to_dict(request.run_id))
        action = run.action_details()
        if (
            self.state.omit_run_error_info
        ):  # as the SDK says Union does: the error is in GetActionDetails only
            action.pop("errorInfo", None)
            for attempt in action["attempts"]:
                attempt.pop("errorInfo", None)
        details = {"runSpec": {"labels": {"values": run.labels}} if run.labels else {}, "action": action}
        return from_dict({"details": details}, rs.GetRunDetailsResponse())

    async def get_action_details(
        self, request: rs.GetActionDetailsRequest, ctx: Any
    ) -> rs.GetActionDetailsResponse:
        action_id = to_dict(request.action_id)
        run = action_run(self.state, action_id)
        return from_dict({"details": run.action_details()}, rs.GetActionDetailsResponse())

    async def watch_action_details(
        self, request: rs.WatchActionDetailsRequest, ctx: Any
    ) -> AsyncIterator[rs.WatchActionDetailsResponse]:
        run = action_run(self.state, to_dict(request.action_id))
        last = None
        while True:
            details = run.action_details()
            if details != last:
                yield from_dict({"details": details}, rs.WatchActionDetailsResponse())
                last = details
            if run.is_terminal():
                return
            await asyncio.sleep(WATCH_INTERVAL)

    def watch_runs(self, request: rs.WatchRunsRequest, ctx: Any) -> AsyncIterator[rs.WatchRunsResponse]:
        return self.watches.watch(request)

    async def abort_run(self, request: rs.AbortRunRequest, ctx: Any) -> rs.AbortRunResponse:
        run_id = to_dict(request.run_id)
        found(
            lambda: self.state.abort(
                run_id.get("project", ""), run_id.get("domain", ""), run_id.get("name", ""), request.reason
            )
        )
        return rs.AbortRunResponse()

    async def list_runs(self, request: rs.ListRunsRequest, ctx: Any) -> rs.ListRunsResponse:
        body = to_dict(request)
        project = body.get("projectId", {})
        listing = body.get("request", {})
        labels = {}
        for f in listing.get("filters", []):
            if f.get("field", "").startswith("labels."):
                if not self.label_filters:
                    raise connect_error("invalid_argument", f"invalid filter field {f['field']}")
                labels[f["field"].removeprefix("labels.")] = set(f.get("values", []))
        with self.state.lock:
            runs = [
                r
                for r in self.state.runs.values()
                if r.project == project.get("name") and r.domain == project.get("domain")
            ]
        names = equal_filter(listing, "task_name")
        runs = [r for r in runs if not names or r.task.name in names]
        run_names = equal_filter(listing, "run_name")
        runs = [r for r in runs if not run_names or r.name in run_names]
        runs = [r for r in runs if all(r.labels.get(k) in values for k, values in labels.items())]
        # phase: enum numbers as strings, as the SDK sends them (names are taken too)
        phases = equal_filter(listing, "phase")
        runs = [
            r for r in runs if not phases or {r.phase(), str(phase_pb2.ActionPhase.Value(r.phase()))} & phases
        ]
        ended_after = lower_bound(listing, "ended_at")
        if ended_after is not None:
            runs = [r for r in runs if r.is_terminal() and r.ended_at >= ended_after]
        runs.sort(key=lambda r: r.created, reverse=descending(listing))
        listed, token = page(runs, listing)
        return from_dict(
            {"runs": [{"action": action_of(r)} for r in listed], "token": token}, rs.ListRunsResponse()
        )

    # -- ProjectService --------------------------------------------------------------------------

    async def get_project(self, request: ps.GetProjectRequest, ctx: Any) -> ps.GetProjectResponse:
        domains = PROJECTS.get(request.id)
        if domains is None:
            raise connect_error("not_found", f"project {request.id} not found")
        project = {
            "id": request.id,
            "name": request.id,
            "domains": [{"id": domain, "name": domain} for domain in domains],
            "state": "PROJECT_STATE_ACTIVE",
            "org": request.org,
        }
        return from_dict({"project": project}, ps.GetProjectResponse())
