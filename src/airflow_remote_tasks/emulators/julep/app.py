"""The Julep v1 REST API (agents, tasks, executions, transitions, status stream) on Starlette, under ``/api``."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import jsonschema
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route

from airflow_remote_tasks.emulators.julep import pages
from airflow_remote_tasks.emulators.julep.protocol import (
    JulepError,
    error_body,
    json_object,
    page,
    parse_uuid,
    validation_error,
)
from airflow_remote_tasks.emulators.julep.state import TERMINAL, Execution, JulepState, now
from airflow_remote_tasks.emulators.julep.tasks import task_from
from airflow_remote_tasks.emulators.server import EmulatorApp, Receive, Scope, Send

PREFIX = "/api"
Handler = Callable[[Request], Awaitable[Response]]


class JulepEmulator:
    """A Julep server on loopback. Steps walk every ``step_seconds``; ``sleep`` steps are scaled down."""

    def __init__(
        self,
        *,
        api_key: str = "",  # empty: any key is accepted (a key must still be sent, as the real API wants one)
        auth_header: str = "Authorization",
        step_seconds: float = 0.2,
        sleep_scale: float = 0.01,
        record_exchanges: bool = False,
    ) -> None:
        self.state = JulepState(step_seconds=step_seconds, sleep_scale=sleep_scale)
        self.api_key = api_key
        self.auth_header = auth_header
        self.exchanges: list[dict[str, Any]] = []
        self.record_exchanges = record_exchanges
        routes = [
            Route("/agents", self.create_agent, methods=["POST"]),
            Route("/agents", self.list_agents, methods=["GET"]),
            Route("/agents/{agent_id}", self.get_agent, methods=["GET"]),
            Route("/agents/{agent_id}/tasks", self.create_task, methods=["POST"]),
            Route("/agents/{agent_id}/tasks", self.list_tasks, methods=["GET"]),
            Route("/agents/{agent_id}/tasks/{task_id}", self.create_task, methods=["POST", "PUT"]),
            Route("/agents/{agent_id}/tasks/{task_id}", self.patch_task, methods=["PATCH"]),
            Route("/agents/{agent_id}/tasks/{task_id}", self.delete_task, methods=["DELETE"]),
            Route("/tasks/{task_id}", self.get_task, methods=["GET"]),
            Route("/tasks/{task_id}/executions", self.create_execution, methods=["POST"]),
            Route("/tasks/{task_id}/executions", self.list_executions, methods=["GET"]),
            Route("/executions/{execution_id}", self.get_execution, methods=["GET"]),
            Route("/executions/{execution_id}", self.update_execution, methods=["PUT"]),
            Route("/executions/{execution_id}/transitions", self.list_transitions, methods=["GET"]),
            Route(
                "/executions/{execution_id}/transitions/{transition_id}", self.get_transition, methods=["GET"]
            ),
            Route("/executions/{execution_id}/status.stream", self.status_stream, methods=["GET"]),
        ]
        page = Route(pages.PATH, lambda request: pages.execution_page(self.state, request), methods=["GET"])
        api = Starlette(
            routes=[Mount(PREFIX, routes=[_guarded(self, r) for r in routes]), page],
            exception_handlers={HTTPException: _http_error},  # type: ignore[dict-item]
        )
        self.app = EmulatorApp(self._record(api), error_body, self._control)

    # -- plumbing ------------------------------------------------------------------------------

    def authorized(self, request: Request) -> bool:
        value = request.headers.get(self.auth_header, "")
        if value.startswith("Bearer "):
            value = value[len("Bearer ") :]
        return value == self.api_key if self.api_key else bool(value.strip())

    def _record(self, api: Any) -> Any:
        """Keep each request and response (for checking both against the OpenAPI spec)."""

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            if not self.record_exchanges:
                await api(scope, receive, send)
                return
            chunks: list[bytes] = []

            async def receive_and_keep() -> dict[str, Any]:
                message = await receive()
                chunks.append(message.get("body", b""))
                return message

            exchange: dict[str, Any] = {
                "method": scope["method"],
                "path": scope["path"],
                "raw_path": scope.get("raw_path", b"").decode("latin-1"),  # as sent, before decoding
                "query": scope["query_string"].decode(),
                "headers": {k.decode(): v.decode() for k, v in scope["headers"]},
                "response_body": b"",
            }

            async def send_and_keep(message: dict[str, Any]) -> None:
                if message["type"] == "http.response.start":
                    exchange["status"] = message["status"]
                    exchange["response_headers"] = {k.decode(): v.decode() for k, v in message["headers"]}
                elif message["type"] == "http.response.body":
                    exchange["response_body"] += message.get("body", b"")
                    if not message.get("more_body"):
                        # Kept before the last byte goes out: a client that has its answer finds it recorded.
                        exchange["body"] = b"".join(chunks)
                        self.exchanges.append(exchange)
                await send(message)

            await api(scope, receive_and_keep, send_and_keep)

        return app

    def _control(self, method: str, name: str, payload: Any) -> Any:
        if name == "executions":
            return self.state.summary()
        if name == "report-status" and method == "POST":
            # {"execution_id": <id>, "status": <word>}; an empty status: the real one again
            payload = payload or {}
            execution = self.state.executions.get(str(payload.get("execution_id", "")))
            if execution is None:
                raise ValueError(f"no execution {payload.get('execution_id')!r}")
            execution.reported_status = str(payload.get("status") or "")
            return {"execution_id": execution.id, "status": execution.status}
        raise KeyError(name)

    def _task(self, task_id: str) -> dict[str, Any]:
        task = self.state.tasks.get(parse_uuid(task_id, "id"))
        if task is None:
            raise JulepError(404, "Task not found")
        return task

    def _execution(self, execution_id: str) -> Execution:
        execution = self.state.executions.get(parse_uuid(execution_id, "id"))
        if execution is None:
            raise JulepError(404, "Execution not found: No execution found")
        return execution

    # -- agents --------------------------------------------------------------------------------

    async def create_agent(self, request: Request) -> Response:
        body = await json_object(request)
        if not body.get("name"):
            raise validation_error("Field required", ["body", "name"])
        stamp = now()
        agent = {
            "id": str(uuid.uuid4()),
            "name": body["name"],
            "canonical_name": body.get("canonical_name") or "",
            "about": body.get("about", ""),
            "model": body.get("model", ""),
            "instructions": body.get("instructions", []),
            "default_settings": body.get("default_settings") or {},
            "metadata": body.get("metadata"),
            "project": body.get("project"),
            "created_at": stamp,
            "updated_at": stamp,
        }
        agent = {key: value for key, value in agent.items() if value is not None}
        self.state.agents[agent["id"]] = agent
        return JSONResponse(agent, status_code=201)

    async def list_agents(self, request: Request) -> Response:
        return page(request, list(self.state.agents.values()))

    async def get_agent(self, request: Request) -> Response:
        agent = self.state.agents.get(parse_uuid(request.path_params["agent_id"], "id"))
        if agent is None:
            raise JulepError(404, "Agent not found")
        return JSONResponse(agent)

    # -- tasks ---------------------------------------------------------------------------------

    async def create_task(self, request: Request) -> Response:
        agent_id = parse_uuid(request.path_params["agent_id"], "agent_id")
        if agent_id not in self.state.agents:
            raise JulepError(404, "Agent not found")
        body = await json_object(request)
        task_id = parse_uuid(request.path_params.get("task_id") or str(uuid.uuid4()), "task_id")
        existing = self.state.tasks.get(task_id)
        task = task_from(body, task_id, existing)
        self.state.tasks[task_id] = task
        self.state.task_agent[task_id] = agent_id
        return JSONResponse(task, status_code=201 if request.method == "POST" else 200)

    async def patch_task(self, request: Request) -> Response:
        task = self._task(request.path_params["task_id"])
        body = await json_object(request)
        merged = task_from({**task, **body}, task["id"], task)
        self.state.tasks[task["id"]] = merged
        return JSONResponse(merged)

    async def delete_task(self, request: Request) -> Response:
        task = self._task(request.path_params["task_id"])
        del self.state.tasks[task["id"]]
        return JSONResponse({"id": task["id"], "deleted_at": now()}, status_code=202)

    async def list_tasks(self, request: Request) -> Response:
        agent_id = parse_uuid(request.path_params["agent_id"], "agent_id")
        tasks = [t for tid, t in self.state.tasks.items() if self.state.task_agent.get(tid) == agent_id]
        return page(request, tasks)

    async def get_task(self, request: Request) -> Response:
        return JSONResponse(self._task(request.path_params["task_id"]))

    # -- executions ----------------------------------------------------------------------------

    async def create_execution(self, request: Request) -> Response:
        task = self._task(request.path_params["task_id"])
        body = await json_object(request)
        if not isinstance(body.get("input"), dict):
            raise validation_error(
                "Field required" if "input" not in body else "Input should be a valid dictionary",
                ["body", "input"],
            )
        schema = task.get("input_schema")
        if schema:
            try:
                jsonschema.validate(body["input"], schema)
            except jsonschema.ValidationError:
                raise JulepError(400, "Invalid request arguments schema") from None
        execution = self.state.start(task, body["input"], body.get("metadata") or {})
        created = execution.to_json()
        # The create response alone shows the workflow id in metadata; reads show the stored metadata.
        created.update(
            status="queued", output=None, transition_count=None, metadata={"jobs": [f"wf-{execution.id}"]}
        )
        return JSONResponse(created, status_code=201)

    async def list_executions(self, request: Request) -> Response:
        task = self._task(request.path_params["task_id"])
        items = [e.to_json() for e in self.state.executions.values() if e.task_id == task["id"]]
        return page(request, items)

    async def get_execution(self, request: Request) -> Response:
        return JSONResponse(self._execution(request.path_params["execution_id"]).to_json())

    async def update_execution(self, request: Request) -> Response:
        execution = self._execution(request.path_params["execution_id"])
        body = await json_object(request)
        wanted = body.get("status", "running")  # the server's default for a body without status
        if wanted == "cancelled":
            if execution.status not in TERMINAL:
                self.state.cancel(execution, body.get("reason"))
        elif wanted == "running":
            if not isinstance(body.get("input"), dict):
                raise validation_error("Field required", ["body", "input"])
            try:
                self.state.resume(execution, body["input"])
            except ValueError as error:
                raise JulepError(400, f"Cannot resume execution: {error}") from None
        else:
            raise validation_error("Input should be 'cancelled' or 'running'", ["body", "status"])
        return JSONResponse(None)

    async def list_transitions(self, request: Request) -> Response:
        execution = self._execution(request.path_params["execution_id"])
        return page(request, list(execution.transitions))

    async def get_transition(self, request: Request) -> Response:
        execution = self._execution(request.path_params["execution_id"])
        wanted = request.path_params["transition_id"]
        for transition in execution.transitions:
            if transition["id"] == wanted:
                return JSONResponse(transition)
        raise JulepError(404, "Transition not found")

    async def status_stream(self, request: Request) -> Response:
        execution = self._execution(request.path_params["execution_id"])

        async def events() -> AsyncIterator[bytes]:
            seen = None
            while True:
                event = execution.status_event()
                if event["updated_at"] != seen:
                    seen = event["updated_at"]
                    yield f"data: {json.dumps(event)}\n\n".encode()
                if event["status"] in TERMINAL:
                    return
                await asyncio.sleep(0.1)

        return StreamingResponse(events(), media_type="text/event-stream")


def _guarded(emulator: JulepEmulator, route: Route) -> Route:
    """Auth and Julep's error bodies around every API route."""
    handler: Handler = route.endpoint

    async def endpoint(request: Request) -> Response:
        if not emulator.authorized(request):
            return JSONResponse({"detail": "Could not validate API KEY"}, status_code=403)
        try:
            return await handler(request)
        except JulepError as error:
            body = error.detail if error.status == 422 else {"detail": error.detail}
            return JSONResponse(body, status_code=error.status)

    return Route(route.path, endpoint, methods=list(route.methods or []))


async def _http_error(request: Request, error: HTTPException) -> Response:
    # FastAPI's shape for unknown routes and methods, which the real server answers with.
    return JSONResponse({"detail": error.detail}, status_code=error.status_code)
