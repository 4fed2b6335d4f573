"""A small API server for the benchmarks: the three status endpoints the waits poll, and (``benchmarks.held``)
the submit calls of the three operators, for the real-Airflow mode.

A run the harness made has its end time written into its id, so the server keeps no state for it: before that
moment the run is running, after it the run has succeeded. A run an operator submitted is held running until
the harness releases its batch (``POST /_release``). It counts the TCP connections it accepts and the calls it
answers, and serves HTTP/1.1 (h11) over plain TCP or TLS. It runs in its own process, so its CPU is not
charged to the waits being measured.

Routes (each platform's real path and body shape):

- Flyte: ``POST /flyteidl2.workflow.RunService/GetRunDetails`` and ``ListRuns`` filtered by ``run_name``
  (Connect, JSON), and ``WatchRuns`` for the project ``STREAMED_PROJECT`` only (another project's stream is
  refused, so its waits poll): a Connect server stream that tells of each run polled once, when it ends. The
  answers are built from flyteidl2's own ``GetRunDetailsResponse`` and ``ListRunsResponse`` messages, as the
  Flyte emulator builds them, so they are protocol-identical; the emulator itself (connect-python on uvicorn)
  is not used because at 1,000 calls a second it, not the client, would be what is measured.
- Databricks: ``GET /api/2.2/jobs/runs/get`` with a JSON body ``{"run_id": ...}``, as the hook sends it.
- dbt Cloud: ``GET /api/v2/accounts/<account>/runs/<run>/``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import ssl
import struct
import sys
import time
from collections import Counter
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qs

import h11

from benchmarks.held import HeldRuns, submit

FLYTE_PATH = "/flyteidl2.workflow.RunService/GetRunDetails"
FLYTE_LIST_PATH = "/flyteidl2.workflow.RunService/ListRuns"
FLYTE_WATCH_PATH = "/flyteidl2.workflow.RunService/WatchRuns"
STREAMED_PROJECT = "streamed"
WATCH_LOOK_SECONDS = 0.05  # how often a stream looks for runs that ended: well below the client's 1 s
DATABRICKS_PATH = "/api/2.2/jobs/runs/get"
DBT_PREFIX = "/api/v2/accounts/"
RUN_PLACEHOLDER = "__RUN__"


def run_id_for(index: int, end: float) -> int:
    """A numeric run id (Databricks, dbt Cloud) that carries its end time in milliseconds."""
    return int(end * 1000) * 100_000 + index


def run_name_for(index: int, end: float) -> str:
    """A Flyte run name (a DNS-1035 label) that carries its end time in milliseconds."""
    return f"b{int(end * 1000)}-{index}"


def end_of(run: str | int) -> float:
    if isinstance(run, int) or run.isdigit():
        return int(run) // 100_000 / 1000
    return int(run[1:].split("-")[0]) / 1000


def _stamp(moment: float) -> str:
    return datetime.fromtimestamp(moment, timezone.utc).isoformat().replace("+00:00", "Z")


def flyte_templates() -> dict[tuple[str, bool], bytes]:
    """Bodies checked by flyteidl2's parser, with the run name left as a placeholder: a whole
    GetRunDetailsResponse ("details") and one entry of ListRunsResponse.runs ("listed"), running or done."""
    from flyteidl2.workflow import run_service_pb2 as rs
    from google.protobuf import json_format

    from airflow_remote_tasks.emulators.flyte.tasks import seed_tasks, task_spec

    seed = seed_tasks()[0]
    started = time.time()
    run = {"org": "bench", "project": "flytesnacks", "domain": "development", "name": RUN_PLACEHOLDER}
    bodies = {}
    for done in (False, True):
        phase = "ACTION_PHASE_SUCCEEDED" if done else "ACTION_PHASE_RUNNING"
        status: dict[str, Any] = {"phase": phase, "startTime": _stamp(started), "attempts": 1}
        attempt: dict[str, Any] = {"phase": phase, "attempt": 1, "startTime": _stamp(started), "cluster": "b"}
        if done:
            status["endTime"] = attempt["endTime"] = _stamp(started + 60)
            status["durationMs"] = "60000"
        action = {
            "id": {"run": run, "name": "a0"},
            "metadata": {
                "task": {
                    "id": {
                        **{k: run[k] for k in ("org", "project", "domain")},
                        "name": seed.name,
                        "version": "v1",
                    },
                    "taskType": "python",
                    "shortName": seed.name.split(".")[-1],
                },
                "actionType": "ACTION_TYPE_TASK",
                "environmentName": seed.name.split(".")[0],
            },
            "status": status,
            "attempts": [attempt],
            "task": task_spec(seed, "flytesnacks", "development"),
        }
        details = json_format.ParseDict({"details": {"action": action}}, rs.GetRunDetailsResponse())
        bodies["details", done] = _compact(json_format.MessageToDict(details))
        listed = {"action": {k: action[k] for k in ("id", "metadata", "status")}}
        listing = json_format.ParseDict({"runs": [listed]}, rs.ListRunsResponse())
        bodies["listed", done] = _compact(json_format.MessageToDict(listing)["runs"][0])
    return bodies


def _compact(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def databricks_body(run_id: int, done: bool) -> bytes:
    state = (
        {"life_cycle_state": "TERMINATED", "result_state": "SUCCESS", "state_message": ""}
        if done
        else {"life_cycle_state": "RUNNING", "state_message": "In run"}
    )
    task = {
        "run_id": run_id + 1,
        "task_key": "main",
        "notebook_task": {"notebook_path": "/Repos/bench/etl", "source": "WORKSPACE"},
        "existing_cluster_id": "0923-164208-meows279",
        "state": state,
        "start_time": 1700000000000,
        "attempt_number": 0,
    }
    body = {
        "job_id": 11223344,
        "run_id": run_id,
        "creator_user_name": "bench@example.com",
        "number_in_job": run_id,
        "state": state,
        "tasks": [task],
        "cluster_spec": {"existing_cluster_id": "0923-164208-meows279"},
        "start_time": 1700000000000,
        "setup_duration": 0,
        "execution_duration": 0,
        "cleanup_duration": 0,
        "trigger": "ONE_TIME",
        "run_name": "bench",
        "run_page_url": f"https://bench.cloud.databricks.com/#job/11223344/run/{run_id}",
        "run_type": "JOB_RUN",
        "format": "MULTI_TASK",
    }
    return json.dumps(body, separators=(",", ":")).encode()


def dbt_body(account: int, run_id: int, done: bool) -> bytes:
    data = {
        "id": run_id,
        "trigger_id": 1,
        "account_id": account,
        "environment_id": 2,
        "project_id": 3,
        "job_definition_id": 4,
        "status": 10 if done else 3,
        "status_humanized": "Success" if done else "Running",
        "is_complete": done,
        "is_success": done,
        "is_error": False,
        "is_cancelled": False,
        "in_progress": not done,
        "dbt_version": "1.8.0",
        "git_branch": "main",
        "git_sha": "0123456789abcdef0123456789abcdef01234567",
        "created_at": "2026-11-22 10:00:00.000000+00:00",
        "href": f"https://cloud.getdbt.com/deploy/{account}/projects/3/runs/{run_id}/",
    }
    body = {"status": {"code": 200, "is_success": True, "user_message": "Success!"}, "data": data}
    return json.dumps(body, separators=(",", ":")).encode()


class BenchServer:
    def __init__(self) -> None:
        self.connections = 0
        self.open_connections = 0
        self.calls: Counter[str] = Counter()  # HTTP calls
        self.reads = 0  # run statuses answered (a listing answers several)
        # Flyte runs read while running, by name, with their end: what a WatchRuns stream tells of when it
        # comes (one stream at a time: one triggerer's).
        self.running: dict[str, float] = {}
        self.flyte = flyte_templates()
        self.held = HeldRuns()  # runs submitted by the operators (the real-Airflow mode)

    def stats(self) -> dict[str, Any]:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return {
            "connections": self.connections,
            "open_connections": self.open_connections,
            "calls": dict(self.calls),
            "reads": self.reads,
            "cpu_seconds": usage.ru_utime + usage.ru_stime,
            "held": {batch: self.held.count(batch) for batch in {b for b, _ in self.held.runs.values()}},
        }

    def ended(self, run: str | int, now: float) -> bool:
        """Whether the run has ended: a held run once its batch's release gave it an end, another by its id."""
        held = self.held.end(str(run))
        return now >= (end_of(run) if held is None else held)

    def answer(self, method: str, target: str, body: bytes) -> tuple[int, bytes]:
        path = target.split("?", 1)[0]
        if path == "/_stats":
            return 200, json.dumps(self.stats()).encode()
        if path == "/_release" and method == "POST":
            asked = json.loads(body)
            return 200, json.dumps(self.held.release(asked["batch"], asked["low"], asked["high"])).encode()
        if (submitted := submit(self.held, path, body, dbt_body)) is not None:
            counter, status, payload = submitted
            self.calls[counter] += 1
            return status, payload
        now = time.time()
        placeholder = RUN_PLACEHOLDER.encode()
        if path == FLYTE_PATH and method == "POST":
            self.calls["flyte"] += 1
            self.reads += 1
            name = json.loads(body)["runId"]["name"]
            self._read(name, now)
            return 200, self.flyte["details", self.ended(name, now)].replace(placeholder, name.encode())
        if path == FLYTE_LIST_PATH and method == "POST":
            self.calls["flyte"] += 1
            [names] = [
                f["values"] for f in json.loads(body)["request"]["filters"] if f["field"] == "run_name"
            ]
            self.reads += len(names)
            for name in names:
                self._read(name, now)
            runs = [self.flyte["listed", self.ended(n, now)].replace(placeholder, n.encode()) for n in names]
            return 200, b'{"runs":[' + b",".join(runs) + b"]}"
        if path == DATABRICKS_PATH and method == "GET":
            self.calls["databricks"] += 1
            self.reads += 1
            # the async hook (the trigger) sends a JSON body, the sync one (the operator) a query string
            query = parse_qs(target.partition("?")[2])
            run_id = int(query["run_id"][0] if "run_id" in query else json.loads(body)["run_id"])
            return 200, databricks_body(run_id, self.ended(run_id, now))
        if path.startswith(DBT_PREFIX) and method == "GET":
            self.calls["dbt"] += 1
            self.reads += 1
            account, _, run = path[len(DBT_PREFIX) :].strip("/").split("/")
            return 200, dbt_body(int(account), int(run), self.ended(int(run), now))
        self.calls["unknown"] += 1
        return 404, b'{"error": "not a benchmark route"}'

    def _read(self, name: str, now: float) -> None:
        if not self.ended(name, now):
            held = self.held.end(name)
            self.running[name] = end_of(name) if held is None else held

    def watches(self, target: str, body: bytes) -> bool:
        """Whether the request is a WatchRuns of the streamed project (served by :meth:`stream`)."""
        if target != FLYTE_WATCH_PATH or len(body) < 5:
            return False
        request = json.loads(body[5:])
        return bool(request.get("projectId", {}).get("name") == STREAMED_PROJECT)

    async def stream(
        self, connection: h11.Connection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """A WatchRuns answer: its headers at once, then a message of the runs that ended at each look, until
        the client hangs up (seen at the next look, so a stream left behind takes no later run's end).

        :raises ConnectionError: once the client is gone."""
        self.calls["flyte-watch"] += 1
        headers = [("content-type", "application/connect+json")]  # no length: chunked
        writer.write(connection.send(h11.Response(status_code=200, headers=headers)))
        await writer.drain()
        placeholder = RUN_PLACEHOLDER.encode()
        while not reader.at_eof():
            await asyncio.sleep(WATCH_LOOK_SECONDS)
            now = time.time()
            ended = [name for name in self.running if self.ended(name, now)]
            if not ended:
                continue
            for name in ended:
                del self.running[name]
            runs = [self.flyte["listed", True].replace(placeholder, n.encode()) for n in ended]
            message = b'{"runs":[' + b",".join(runs) + b"]}"
            writer.write(connection.send(h11.Data(data=struct.pack(">BI", 0, len(message)) + message)))
            await writer.drain()

    async def serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.open_connections += 1
        connection = h11.Connection(h11.SERVER)
        first = True
        try:
            while True:
                request: h11.Request | None = None
                body = bytearray()
                while True:
                    event = connection.next_event()
                    if event is h11.NEED_DATA:
                        data = await reader.read(65536)
                        if not data:
                            return
                        connection.receive_data(data)
                        continue
                    if isinstance(event, h11.Request):
                        request = event
                    elif isinstance(event, h11.Data):
                        body += event.data
                    elif isinstance(event, h11.EndOfMessage):
                        break
                    elif isinstance(event, h11.ConnectionClosed):
                        return
                assert request is not None
                if first and request.target != b"/_stats":  # the harness's own calls are not counted
                    self.connections += 1
                first = False
                if self.watches(request.target.decode(), bytes(body)):
                    await self.stream(connection, reader, writer)
                    return
                status, payload = self.answer(request.method.decode(), request.target.decode(), bytes(body))
                headers = [("content-type", "application/json"), ("content-length", str(len(payload)))]
                writer.write(connection.send(h11.Response(status_code=status, headers=headers)))
                writer.write(connection.send(h11.Data(data=payload)))
                writer.write(connection.send(h11.EndOfMessage()))
                await writer.drain()
                if connection.our_state is h11.MUST_CLOSE:
                    return
                connection.start_next_cycle()
        except (ConnectionError, h11.RemoteProtocolError, ssl.SSLError):
            return
        finally:
            self.open_connections -= 1
            writer.close()


def raise_fd_limit() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def serve(port: int, certfile: str | None) -> None:
    raise_fd_limit()
    server = BenchServer()
    context = None
    if certfile:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(certfile)
    listener = await asyncio.start_server(
        server.serve_connection, "127.0.0.1", port, ssl=context, backlog=4096, limit=1 << 20
    )
    actual = listener.sockets[0].getsockname()[1]
    scheme = "https" if certfile else "http"
    print(json.dumps({"url": f"{scheme}://127.0.0.1:{actual}", "pid": os.getpid()}), flush=True)
    async with listener:
        await listener.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--cert", help="PEM file with the certificate chain and key; serves TLS")
    args = parser.parse_args()
    try:
        asyncio.run(serve(args.port, args.cert))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
