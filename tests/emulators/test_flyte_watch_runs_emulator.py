"""The Flyte emulator's RunService/WatchRuns over HTTP: a Connect server stream of flyteidl2 messages that tells
of each phase change of the runs its filter selects, and its faults (a refused stream, a dropped one)."""

from __future__ import annotations

import json
import struct
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from flyteidl2.workflow import run_service_pb2 as rs
from google.protobuf import json_format

from airflow_remote_tasks.emulators.flyte import FlyteEmulator
from airflow_remote_tasks.emulators.server import ServerThread

RUNS = "/flyteidl2.workflow.RunService"
DEVELOPMENT = {"organization": "", "name": "flytesnacks", "domain": "development"}


@pytest.fixture
def emulator() -> Iterator[tuple[FlyteEmulator, str]]:
    flyte = FlyteEmulator(queue_seconds=0.1, run_seconds=0.3)
    with ServerThread(flyte.app) as server:
        yield flyte, server.url


def create_run(url: str, name: str, *, domain: str = "development", task: str = "demo.say_hello") -> None:
    inputs = {"demo.say_hello": "name", "demo.sleep": "seconds"}[task]
    value = {"stringValue": "x"} if task == "demo.say_hello" else {"floatValue": 0.2}
    body = {
        "runId": {"org": "", "project": "flytesnacks", "domain": domain, "name": name},
        "taskId": {"org": "", "project": "flytesnacks", "domain": domain, "name": task, "version": "v1"},
        "inputs": {"literals": [{"name": inputs, "value": {"scalar": {"primitive": value}}}]},
    }
    answer = httpx.post(f"{url}{RUNS}/CreateRun", json=body, headers={"Connect-Protocol-Version": "1"})
    assert answer.status_code == 200, answer.text


def envelopes(data: bytes) -> list[tuple[int, dict[str, Any]]]:
    found, offset = [], 0
    while offset + 5 <= len(data):
        flags, length = struct.unpack_from(">BI", data, offset)
        found.append((flags, json.loads(data[offset + 5 : offset + 5 + length])))
        offset += 5 + length
    return found


def watch(url: str, request: dict[str, Any], seconds: float) -> list[tuple[int, dict[str, Any]]]:
    """The envelopes a WatchRuns stream sends within ``seconds`` (or until it ends)."""
    payload = json.dumps(request).encode()
    headers = {"Content-Type": "application/connect+json", "Connect-Protocol-Version": "1"}
    data = bytearray()
    until = time.monotonic() + seconds
    with httpx.stream(
        "POST",
        f"{url}{RUNS}/WatchRuns",
        content=struct.pack(">BI", 0, len(payload)) + payload,
        headers=headers,
        timeout=seconds,
    ) as answer:
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "application/connect+json"
        try:
            for chunk in answer.iter_raw():
                data += chunk
                if time.monotonic() >= until:
                    break
        except httpx.ReadTimeout:
            pass
    return envelopes(bytes(data))


def phases(sent: list[tuple[int, dict[str, Any]]]) -> list[tuple[str, str]]:
    """(run name, phase) of each run in the data messages, in order; each message parses as flyteidl2's."""
    seen = []
    for flags, message in sent:
        if flags & 0x02:
            continue
        json_format.ParseDict(message, rs.WatchRunsResponse())  # strictly flyteidl2's message
        for run in message["runs"]:
            action = run["action"]
            seen.append((action["id"]["run"]["name"], action["status"]["phase"]))
    return seen


def test_a_project_stream_tells_each_phase_change_of_its_runs_and_no_others(emulator):
    _, url = emulator
    create_run(url, "before")
    create_run(url, "elsewhere", domain="staging")
    sent = phases(watch(url, {"projectId": DEVELOPMENT}, 0.2))
    assert sent[0][0] == "before"  # the first message: the current state of the runs not ended
    create_run(url, "later")
    create_run(url, "later-staging", domain="staging")
    sent = phases(watch(url, {"projectId": DEVELOPMENT}, 1.0))
    names = {name for name, _ in sent}
    assert names <= {"before", "later"} and "later" in names, sent
    later = [phase for name, phase in sent if name == "later"]
    assert later[-1] == "ACTION_PHASE_SUCCEEDED"
    assert len(later) == len(set(later)), "a phase is told once"


def test_a_task_stream_tells_only_that_tasks_runs(emulator):
    _, url = emulator
    task = {"org": "", "project": "flytesnacks", "domain": "development", "name": "demo.sleep"}
    create_run(url, "hello")
    create_run(url, "sleeper", task="demo.sleep")
    sent = phases(watch(url, {"taskId": task}, 0.8))
    assert {name for name, _ in sent} == {"sleeper"}
    assert sent[-1] == ("sleeper", "ACTION_PHASE_SUCCEEDED")


def test_without_the_first_state_a_stream_tells_only_changes(emulator):
    flyte, url = emulator
    create_run(url, "running")
    time.sleep(0.15)  # running now: no change until it ends
    flyte.watches.faults.first_state = False
    sent = phases(watch(url, {"projectId": DEVELOPMENT}, 0.6))
    assert sent == [("running", "ACTION_PHASE_SUCCEEDED")]


def test_a_refused_stream_ends_at_once_with_unimplemented(emulator):
    flyte, url = emulator
    flyte.watches.faults.refuse = True
    [(flags, end)] = watch(url, {"projectId": DEVELOPMENT}, 2.0)
    assert flags == 0x02 and end["error"]["code"] == "unimplemented"


def test_a_stream_without_a_filter_is_refused(emulator):
    _, url = emulator
    [(flags, end)] = watch(url, {}, 2.0)
    assert flags == 0x02 and end["error"]["code"] == "invalid_argument"


def test_streams_drop_after_the_fault_s_seconds_and_when_told(emulator):
    flyte, url = emulator
    httpx.post(f"{url}/_emulator/watch-runs", json={"drop_after": 0.3})
    # Read for up to 30 s: a stream not dropped would send no end at all.
    sent = watch(url, {"projectId": DEVELOPMENT}, 30.0)
    assert sent[-1][0] == 0x02 and sent[-1][1]["error"]["code"] == "unavailable"

    httpx.post(f"{url}/_emulator/watch-runs", json={"drop_after": 0})
    import threading

    threading.Timer(0.3, lambda: httpx.post(f"{url}/_emulator/watch-runs", json={"drop_now": True})).start()
    sent = watch(url, {"projectId": DEVELOPMENT}, 30.0)
    assert sent[-1][0] == 0x02
    assert sent[-1][1]["error"]["code"] == "unavailable"
    assert flyte.watches.opened == 2


def test_a_stream_whose_client_hangs_up_ends(emulator):
    flyte, url = emulator
    create_run(url, "watched")  # the first message (its state) starts the answer
    watch(url, {"projectId": DEVELOPMENT}, 0.2)
    deadline = time.monotonic() + 2
    while flyte.watches.open_streams and time.monotonic() < deadline:
        time.sleep(0.02)
    assert flyte.watches.open_streams == 0


def test_an_unknown_watch_fault_is_refused(emulator):
    _, url = emulator
    answer = httpx.post(f"{url}/_emulator/watch-runs", json={"drop_sometimes": 1})
    assert answer.status_code == 400 and "drop_sometimes" in answer.json()["error"]
