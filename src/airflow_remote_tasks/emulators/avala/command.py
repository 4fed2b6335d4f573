"""``remote-tasks emulator avala``: its options, and the app they make."""

from __future__ import annotations

import argparse
from typing import Any


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--api-key", default="", help="accept only this API key (default: any key)")
    parser.add_argument("--tasks", type=int, default=250, help="annotation tasks in the seeded project")
    parser.add_argument("--pace", type=float, default=2.0, help="seconds people take per task")
    parser.add_argument(
        "--job-seconds", type=float, default=10.0, help="time an export or auto-label job takes"
    )
    parser.add_argument(
        "--annotations-per-task",
        type=int,
        default=2,
        help="made-up annotations per task in an export zip (thousands make a big export, sent as it is made)",
    )


def build(args: argparse.Namespace) -> tuple[Any, str, str]:
    """The ASGI app, the API's path under the server's URL, and what a user needs to know of it."""
    from airflow_remote_tasks.emulators.avala import DEMO_DATASET, DEMO_PROJECT, AvalaEmulator

    emulator = AvalaEmulator(
        api_key=args.api_key, tasks=args.tasks, pace=args.pace, job_seconds=args.job_seconds
    )
    emulator.state.annotations_per_task = args.annotations_per_task
    auth = f"requires API key {args.api_key!r}" if args.api_key else "accepts any API key"
    links = "run links open here with the connection's App URL (app_url) set to this server's URL, without /api/v1"
    return emulator.app, "/api/v1", f"project {DEMO_PROJECT}, dataset {DEMO_DATASET}; {auth}; {links}"
