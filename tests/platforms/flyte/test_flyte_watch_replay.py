"""Flyte's WatchRuns call and what its stream is read into, with canned answers and no server: the request, the
envelopes as they arrive in pieces, each run's status, and what each way a stream ends means."""

from __future__ import annotations

import json
import struct
from typing import Any

import httpx
import pytest
from flyteidl2.workflow import run_service_pb2 as rs
from google.protobuf import json_format

from airflow_remote_tasks.core.errors import ApiError, AuthenticationError, RemoteTaskError, TransportError
from airflow_remote_tasks.core.phases import Phase
from airflow_remote_tasks.core.replay import Replay, reply
from airflow_remote_tasks.platforms.flyte import connect, run_stream, watch
from airflow_remote_tasks.platforms.flyte.config import FlyteConfig
from airflow_remote_tasks.platforms.flyte.platform import FlytePlatform

API = "https://acme.flyte.example"
STREAM = {"content-type": "application/connect+json"}


def platform() -> FlytePlatform:
    return FlytePlatform(FlyteConfig(endpoint=API, org="acme", project="ml"))


def run(name: str, phase: str, **action: Any) -> dict[str, Any]:
    """One Run of a WatchRunsResponse, checked against flyteidl2's message."""
    body = {
        "action": {
            "id": {
                "run": {"org": "acme", "project": "ml", "domain": "development", "name": name},
                "name": "a0",
            },
            "status": {"phase": phase, "attempts": 1},
            **action,
        }
    }
    json_format.ParseDict({"runs": [body]}, rs.WatchRunsResponse())
    return body


def envelope(message: dict[str, Any], flags: int = 0) -> bytes:
    payload = json.dumps(message).encode()
    return struct.pack(">BI", flags, len(payload)) + payload


def test_the_call_asks_for_one_projects_runs_as_a_connect_stream():
    replay = Replay([reply(content=envelope({"runs": [run("r1", "ACTION_PHASE_RUNNING")]}), headers=STREAM)])
    messages = replay.run(run_stream.watch_runs(platform().api, "acme", "ml", "development"))
    [sent] = replay.requests
    assert str(sent.url) == f"{API}/flyteidl2.workflow.RunService/WatchRuns"
    assert sent.headers["content-type"] == "application/connect+json"
    assert sent.headers["connect-protocol-version"] == "1"
    flags, length = struct.unpack(">BI", sent.content[:5])
    request = json.loads(sent.content[5 : 5 + length])
    assert flags == 0 and request == {
        "projectId": {"organization": "acme", "name": "ml", "domain": "development"}
    }
    json_format.ParseDict(request, rs.WatchRunsRequest())  # flyteidl2's request, its target a project
    assert run_stream.updated_statuses(messages[0])["r1"].phase is Phase.RUNNING


@pytest.mark.parametrize(
    ("answer", "error", "ending"),
    [
        (
            reply(content=envelope({"error": {"code": "unimplemented", "message": "no"}}, 2), headers=STREAM),
            ApiError,
            run_stream.Ending.REFUSED,
        ),
        (
            reply(content=envelope({"error": {"code": "unavailable"}}, 2), headers=STREAM),
            ApiError,
            run_stream.Ending.DROPPED,
        ),
        (
            reply(status=401, json={"code": "unauthenticated", "message": "bad token"}),
            AuthenticationError,
            run_stream.Ending.REFUSED,
        ),
        (
            reply(status=404, content=b"<html>not here</html>", headers={"content-type": "text/html"}),
            RemoteTaskError,
            run_stream.Ending.REFUSED,
        ),
        (reply(status=503, json={"code": "unavailable"}), ApiError, run_stream.Ending.DROPPED),
    ],
    ids=[
        "unimplemented-in-trailer",
        "unavailable-in-trailer",
        "credentials-refused",
        "not-the-api",
        "http-503",
    ],
)
def test_each_way_a_stream_ends_says_how_soon_to_ask_again(answer, error, ending):
    with pytest.raises(error) as raised:
        Replay([answer] * 5).run(run_stream.watch_runs(platform().api, "acme", "ml", "development"))
    assert run_stream.ending_of(raised.value) is ending


def test_a_clean_end_and_a_broken_connection_are_drops():
    assert run_stream.ending_of(None) is run_stream.Ending.DROPPED
    assert run_stream.ending_of(httpx.RemoteProtocolError("peer closed")) is run_stream.Ending.DROPPED
    assert run_stream.ending_of(httpx.ReadTimeout("silent")) is run_stream.Ending.DROPPED
    assert run_stream.ending_of(TransportError("broke")) is run_stream.Ending.DROPPED


def test_envelopes_are_read_whatever_pieces_they_arrive_in():
    first = envelope({"runs": [run("r1", "ACTION_PHASE_RUNNING")]})
    second = envelope({"runs": [run("r2", "ACTION_PHASE_SUCCEEDED"), run("r3", "ACTION_PHASE_QUEUED")]})
    end = envelope({"error": {"code": "unavailable"}}, 2)
    data = first + second + end + b"ignored after the end"
    for size in (1, 2, 5, 7, 64, len(data)):
        reader = connect.EnvelopeReader()
        names = [
            name
            for start in range(0, len(data), size)
            for message in reader.feed(data[start : start + size])
            for name in run_stream.updated_statuses(message)
        ]
        assert names == ["r1", "r2", "r3"], size
        assert reader.end == end


def test_a_compressed_or_unreadable_message_is_refused():
    with pytest.raises(TransportError, match="compressed"):
        connect.EnvelopeReader().feed(envelope({"runs": []}, 1))
    with pytest.raises(ValueError):
        connect.EnvelopeReader().feed(struct.pack(">BI", 0, 3) + b"{no")


def test_each_run_of_a_message_has_its_status_but_no_failure_message():
    # flyteidl2's Action holds id, metadata and status only: a failure's message is read from GetRunDetails.
    statuses = run_stream.updated_statuses(
        {"runs": [run("r1", "ACTION_PHASE_SUCCEEDED"), run("r2", "ACTION_PHASE_FAILED")]}
    )
    assert statuses["r1"].phase is Phase.SUCCEEDED and statuses["r1"].is_terminal
    assert (statuses["r2"].phase, statuses["r2"].message) == (Phase.FAILED, "")
    assert run_stream.updated_statuses({}) == {}


def test_flyte_declares_its_streamed_waits_and_other_platforms_poll():
    from airflow_remote_tasks.core.declaration import Capability
    from airflow_remote_tasks.registry import DECLARATIONS

    streaming = {d.name for d in DECLARATIONS if Capability.WATCH_RUNS in d.capabilities}
    assert streaming == {"flyte"}
    assert isinstance(platform().run_updates(), watch.FlyteRunUpdates)


def test_a_message_reaches_every_wait_on_its_runs_and_ends_their_pauses():
    """The fan-out, with no server: a message's runs update the runs followed, wake the waits paused on those
    that ended, and leave the rest (and runs no wait follows) alone."""
    import asyncio
    import time

    from airflow_remote_tasks.core.models import RunStatus

    flyte = platform()
    stream = watch.ProjectStream(flyte, "acme", "ml", "development")
    polled: list[str] = []

    async def never_polled() -> RunStatus:
        polled.append("poll")
        raise AssertionError("the stream answers: no poll")

    async def body() -> None:
        refs = {name: flyte.ref_for(name) for name in ("r1", "r2")}
        for name, ref in refs.items():
            stream.followed[name] = watch.FollowedRun(ref, never_polled, expires=time.monotonic() + 60)
        stream.state = watch.State.STREAMING
        slept: list[float] = []

        async def hour(seconds: float) -> None:
            slept.append(seconds)
            await asyncio.sleep(seconds)

        paused = [asyncio.ensure_future(stream.pause(refs["r1"], 3600, hour)) for _ in range(3)]
        other = asyncio.ensure_future(stream.pause(refs["r2"], 3600, hour))
        await asyncio.sleep(0)
        stream._apply(
            {
                "runs": [
                    run("r1", "ACTION_PHASE_SUCCEEDED"),
                    run("r2", "ACTION_PHASE_RUNNING"),
                    run("unfollowed", "ACTION_PHASE_FAILED"),
                ]
            }
        )
        await asyncio.wait_for(asyncio.gather(*paused), 5)  # the three waits on r1 woke, not an hour later
        assert not other.done() and slept == [3600] * 4
        other.cancel()
        assert (await stream.read(refs["r1"], never_polled)).phase is Phase.SUCCEEDED
        assert (await stream.read(refs["r2"], never_polled)).phase is Phase.RUNNING
        assert set(stream.followed) == {"r1", "r2"} and not polled
        # A failure comes with no message in the stream: it is not trusted, so its wait reads it once.
        stream._apply({"runs": [run("r2", "ACTION_PHASE_FAILED")]})
        assert stream.followed["r2"].ended.is_set() and not stream.followed["r2"].fresh
        stream.close()

    asyncio.run(body())
