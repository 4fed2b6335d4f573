"""The core's state that outlives one call has one eviction rule each: tokens until they expire, masker messages
while they are sent."""

from __future__ import annotations

import asyncio
import time

import pytest

from airflow_remote_tasks.core import secrets
from airflow_remote_tasks.core.auth import TokenCache


def test_expired_tokens_are_dropped_when_a_token_is_kept() -> None:
    cache = TokenCache()
    cache.put("rotated", "t-old", expires_in=1.0)  # kept 1 s at least
    cache.put("other", "t-2", expires_in=3600.0)
    assert cache.get("rotated") == "t-old"
    cache._tokens["rotated"] = ("t-old", time.monotonic() - 1)  # its time has come
    assert cache.get("rotated") is None
    cache.put("new", "t-3", expires_in=3600.0)
    assert set(cache._tokens) == {"other", "new"}


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
