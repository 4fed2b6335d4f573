"""Credentials: cleaned when read, registered with Airflow's secrets masker, kept out of error text.

A key pasted with a trailing newline is the common case: httpx refuses such a header, and its error quotes
the header value in escaped form, which no masker recognises. So credentials are stripped when read,
checked before they are sent, and every form the provider derives (tokens, decoded secrets, header values)
is registered with the masker. Error text about a request never quotes its header values.
"""

from __future__ import annotations

import asyncio
import base64
import re
from collections.abc import Iterable, Mapping

from airflow_remote_tasks.core.loops import PerLoop

# An HTTP field value (RFC 9110 5.5) without the obs-text and without line breaks: what every API key,
# token and client secret is made of. Inner spaces are allowed; a header value may hold "Bearer x".
_HEADER_VALUE = re.compile(r"[\x21-\x7e]+(?:[ \t]+[\x21-\x7e]+)*")
# Airflow masks nothing shorter than its [logging] min_length_masked_secret (5 by default); neither does this.
_MIN_REDACTED = 5
# Strong references to the messages to the supervisor's masker in flight on each loop, each dropped once sent
# (a task nobody references may be collected before it runs).
_MASKER_MESSAGES: PerLoop[set[asyncio.Task[None]]] = PerLoop()


def is_header_value(value: str) -> bool:
    return bool(_HEADER_VALUE.fullmatch(value))


def register_secret(value: str) -> None:
    """Have Airflow mask ``value`` in this process's logs and in its supervisor's.

    In the triggerer the supervisor is told asynchronously: a blocking send from inside the event loop
    would wait on the loop it blocks.
    """
    if not value:
        return
    from airflow.sdk.log import amask_secret, mask_secret

    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        mask_secret(value)
        return
    from airflow.sdk._shared.secrets_masker import mask_secret as mask_here

    mask_here(value)  # at once, before the supervisor hears of it
    in_flight = _MASKER_MESSAGES.get(None, set)
    task = loop.create_task(amask_secret(value))
    in_flight.add(task)
    task.add_done_callback(in_flight.discard)


def derived_forms(value: str) -> list[str]:
    """The forms in which a credential can appear in text: as is, stripped, escaped, and base64."""
    forms = {value, value.strip()}
    forms.add(value.encode("unicode_escape").decode("ascii"))
    forms.add(repr(value.encode())[2:-1])
    forms.add(base64.b64encode(value.encode()).decode())
    return sorted((f for f in forms if len(f) >= _MIN_REDACTED), key=len, reverse=True)


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every form of every secret replaced by ``***``."""
    for secret in secrets:
        for form in derived_forms(secret):
            text = text.replace(form, "***")
    return text


# Headers that never carry a credential; every other header's value is kept out of error text, since the
# credential's header name is the platform's or the server's choice (flyte-authorization, X-Auth-Key...).
PLAIN_HEADERS = frozenset(
    {
        "accept",
        "content-type",
        "content-length",
        "user-agent",
        "connect-protocol-version",
        "connect-timeout-ms",
    }
)


def redact_headers(text: str, headers: Mapping[str, str]) -> str:
    """``text`` (an error about a request) without the values of the request's headers, nor their parts."""
    values: list[str] = []
    for name, value in headers.items():
        if name.lower() in PLAIN_HEADERS:
            continue
        values.append(value)
        values.extend(part for part in value.split() if len(part) >= _MIN_REDACTED)
    return redact(text, values)
