"""``remote-tasks emulator labelbox``: its options, and the app they make."""

from __future__ import annotations

import argparse
from typing import Any


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--api-key", default="", help="accept only this API key (default: any key)")
    parser.add_argument("--task-seconds", type=float, default=2.0, help="time a task stays IN_PROGRESS")
    parser.add_argument("--rows", type=int, default=6, help="data rows in the seeded dataset")
    parser.add_argument("--chunk-bytes", type=int, default=1 << 20, help="largest export part behind one URL")
    parser.add_argument(
        "--gkey-creates",
        action="store_true",
        help="an upsert keyed by a global key no row has creates the row (default: refused as not found; "
        "what Labelbox does is not documented)",
    )


def build(args: argparse.Namespace) -> tuple[Any, str, str]:
    """The ASGI app, the API's path under the server's URL, and what a user needs to know of it."""
    from airflow_remote_tasks.emulators.labelbox import DEMO_DATASET_ID, DEMO_PROJECT_ID, LabelboxEmulator

    emulator = LabelboxEmulator(
        api_key=args.api_key, task_seconds=args.task_seconds, rows=args.rows, chunk_bytes=args.chunk_bytes
    )
    emulator.state.gkey_creates = args.gkey_creates
    auth = f"requires API key {args.api_key!r}" if args.api_key else "accepts any API key"
    about = (
        f"project {DEMO_PROJECT_ID}, dataset {DEMO_DATASET_ID}; {auth}; run links open here when the "
        "connection's App URL is this server's address"
    )
    return emulator.app, "/graphql", about
