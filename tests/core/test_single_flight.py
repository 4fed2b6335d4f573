"""SingleFlight: one computation per key in flight per event loop, shared by the callers that ask meanwhile."""

from __future__ import annotations

import asyncio

import pytest

from airflow_remote_tasks.core.loops import SingleFlight


class Computation:
    def __init__(self, fail: bool = False) -> None:
        self.started = 0
        self.release = asyncio.Event()
        self.fail = fail

    async def __call__(self) -> int:
        self.started += 1
        await self.release.wait()
        if self.fail:
            raise LookupError("refused")
        return self.started


def test_concurrent_callers_share_one_computation() -> None:
    async def scenario() -> None:
        flight: SingleFlight[int] = SingleFlight()
        compute = Computation()
        waiting = [asyncio.ensure_future(flight.get("k", compute)) for _ in range(50)]
        await asyncio.sleep(0)
        compute.release.set()
        assert await asyncio.gather(*waiting) == [1] * 50
        assert compute.started == 1
        assert await flight.get("k", compute) == 2  # done and not kept: the next caller computes again
        other = Computation()
        other.release.set()
        assert await flight.get("other", other) == 1  # another key, another computation

    asyncio.run(scenario())


def test_a_cancelled_caller_does_not_cancel_the_others_answer() -> None:
    async def scenario() -> None:
        flight: SingleFlight[int] = SingleFlight()
        compute = Computation()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(flight.get("k", compute), 0.01)
        patient = asyncio.ensure_future(flight.get("k", compute))
        await asyncio.sleep(0)
        compute.release.set()
        assert await patient == 1 and compute.started == 1

    asyncio.run(scenario())


def test_a_failure_reaches_every_caller_and_is_not_kept() -> None:
    async def scenario() -> None:
        flight: SingleFlight[int] = SingleFlight(keep_for=60)
        failing = Computation(fail=True)
        waiting = [asyncio.ensure_future(flight.get("k", failing)) for _ in range(3)]
        await asyncio.sleep(0)
        failing.release.set()
        results = await asyncio.gather(*waiting, return_exceptions=True)
        assert [type(r) for r in results] == [LookupError] * 3 and failing.started == 1
        working = Computation()
        working.release.set()
        assert await flight.get("k", working) == 1

    asyncio.run(scenario())


def test_an_answer_is_kept_for_keep_for_and_at_most_fresh_for() -> None:
    async def scenario() -> None:
        flight: SingleFlight[int] = SingleFlight(keep_for=0.2)
        compute = Computation()
        compute.release.set()
        assert await flight.get("k", compute) == 1
        assert await flight.get("k", compute) == 1  # kept
        assert await flight.get("k", compute, fresh_for=0) == 2  # this caller wants a fresher one
        await asyncio.sleep(0.25)
        assert await flight.get("k", compute, fresh_for=10) == 3  # never kept beyond keep_for

    asyncio.run(scenario())


def test_answers_too_old_are_dropped_when_any_key_is_asked_for() -> None:
    async def scenario() -> SingleFlight[int]:
        flight: SingleFlight[int] = SingleFlight(keep_for=0.05)
        compute = Computation()
        compute.release.set()
        for key in range(100):
            await flight.get(key, compute)
        await asyncio.sleep(0.1)
        await flight.get("fresh", compute)
        [flights] = flight._loops._entries.values()
        assert list(flights[1].kept) == ["fresh"]
        return flight

    asyncio.run(scenario())


def test_each_event_loop_has_its_own_flights() -> None:
    flight: SingleFlight[int] = SingleFlight(keep_for=60)
    compute = Computation()

    async def ask() -> int:
        compute.release = asyncio.Event()
        compute.release.set()
        return await flight.get("k", compute)

    assert asyncio.run(ask()) == 1
    assert asyncio.run(ask()) == 2  # another loop: the first loop's answer is not handed to it


def test_requests_with_one_share_key_sent_together_go_out_once() -> None:
    from airflow_remote_tasks.core.operation import HttpRequest, HttpResponse, Operation
    from airflow_remote_tasks.core.replay import Replay, reply

    def token(share: str) -> Operation[object]:
        response: HttpResponse = yield HttpRequest("POST", "https://idp.example.com/token", share=share)
        return response.json()

    replay = Replay(lambda request: reply(json={"access_token": "t"}))

    async def together() -> list[object]:
        shared = [replay.arun(token("idp")) for _ in range(100)]
        return await asyncio.gather(*shared, replay.arun(token("")), replay.arun(token("")))

    assert asyncio.run(together()) == [{"access_token": "t"}] * 102
    assert len(replay.requests) == 3  # one shared, and each unshared request of its own
