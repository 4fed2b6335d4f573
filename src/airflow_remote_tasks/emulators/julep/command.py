"""``remote-tasks emulator julep``: its options, and the app they make."""

from __future__ import annotations

import argparse
from typing import Any


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--api-key", default="", help="accept only this API key (default: any key)")
    parser.add_argument("--step-seconds", type=float, default=0.5, help="time each step takes")
    parser.add_argument(
        "--sleep-scale", type=float, default=0.01, help="how much of a sleep step's duration is really slept"
    )


def build(args: argparse.Namespace) -> tuple[Any, str, str]:
    """The ASGI app, the API's path under the server's URL, and what a user needs to know of it."""
    from airflow_remote_tasks.emulators.julep import DEMO_AGENT_ID, JulepEmulator
    from airflow_remote_tasks.emulators.julep.pages import EXECUTION_LINK

    emulator = JulepEmulator(
        api_key=args.api_key, step_seconds=args.step_seconds, sleep_scale=args.sleep_scale
    )
    auth = f"requires API key {args.api_key!r}" if args.api_key else "accepts any API key"
    link = f"execution pages, for a connection's Execution link, at {EXECUTION_LINK} (outside /api)"
    return emulator.app, "/api", f"agent {DEMO_AGENT_ID}; {auth}; {link}"
