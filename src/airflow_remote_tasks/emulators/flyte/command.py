"""``remote-tasks emulator flyte``: its options, and the app they make."""

from __future__ import annotations

import argparse
from typing import Any


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--queue-seconds", type=float, default=0.3, help="time a new run stays queued")
    parser.add_argument("--run-seconds", type=float, default=1.0, help="time a run stays running")
    parser.add_argument("--client-id", default="", help="require OAuth2 client credentials")
    parser.add_argument("--client-secret", default="")


def build(args: argparse.Namespace) -> tuple[Any, str, str]:
    """The ASGI app, the API's path under the server's URL, and what a user needs to know of it."""
    from airflow_remote_tasks.emulators.flyte import FlyteEmulator

    if bool(args.client_id) != bool(args.client_secret):
        raise SystemExit("--client-id and --client-secret go together")
    emulator = FlyteEmulator(
        queue_seconds=args.queue_seconds,
        run_seconds=args.run_seconds,
        client_id=args.client_id,
        client_secret=args.client_secret,
    )
    auth = (
        f"OAuth2: requires client id {args.client_id!r} and its secret"
        if args.client_id
        else "no authentication"
    )
    return emulator.app, "", f"project flytesnacks; {auth}"
