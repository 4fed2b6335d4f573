"""The core's state that outlives one call has one eviction rule each: tokens until they expire, masker messages
while they are sent, a loop's values until they are discarded or the loop closes."""

from __future__ import annotations

import asyncio
import time

import pytest

from airflow_remote_tasks.core import secrets
from airflow_remote_tasks.core.auth import KeptToken
from airflow_remote_tasks.core.loops import PerLoop


def test_an_expired_token_is_dropped_when_the_next_is_kept() -> None:
    kept = KeptToken()
    kept.keep("t-old", expires_in=1.0)  # kept 1 s at least
    assert kept.get() == "t-old"
    kept._token = ("t-old", time.monotonic() - 1)  # its time has come
    assert kept.get() is None
    kept.keep("t-new", expires_in=3600.0)
    assert kept._token is not None and kept._token[0] == "t-new" and kept.get() == "t-new"
    kept.drop()  # after a 401
    assert kept.get() is None


def test_a_message_to_the_supervisors_masker_is_held_until_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    import airflow.sdk.log

    sent: list[str] = []
    gate = asyncio.Event()

    async def amask_secret(value: str) -> None:
        await gate.wait()
        sent.append(value)

    monkeypatch.setattr(airflow.sdk.log, "amask_secret", amask_secret)

    async def scenario() -> None:
        secrets.register_secret("s3cr3t-VALUE-1")
        [held] = secrets._MASKER_MESSAGES.get(None, set)
        assert not held.done()
        gate.set()
        await held
        await asyncio.sleep(0)
        assert secrets._MASKER_MESSAGES.get(None, set) == set() and sent == ["s3cr3t-VALUE-1"]

    asyncio.run(scenario())


def test_a_loops_value_is_found_without_being_made_and_dropped_only_when_it_is_the_one_discarded() -> None:
    values: PerLoop[list[str]] = PerLoop()

    async def body() -> None:
        assert values.find("k") is None  # finding makes nothing
        first = values.get("k", list)
        assert values.find("k") is first
        values.discard("k", ["another"])  # not the value kept: kept still
        assert values.find("k") is first
        values.discard("k", first)
        assert values.find("k") is None and values.get("k", list) is not first

    asyncio.run(body())
    assert values._entries  # the closed loop's value stays until the next lookup on a loop ...

    async def later() -> None:
        values.get("other", list)

    asyncio.run(later())
    assert len(values._entries) == 1  # ... which drops it
