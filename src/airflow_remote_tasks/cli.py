"""``remote-tasks``: serve an emulator on loopback."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="remote-tasks", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    emulator = commands.add_parser("emulator", help="serve a platform emulator")
    platforms = emulator.add_subparsers(dest="platform", required=True)

    flyte = platforms.add_parser("flyte", help="Flyte 2 / Union control plane (Connect)")
    flyte.add_argument("--queue-seconds", type=float, default=0.3, help="time a new run stays queued")
    flyte.add_argument("--run-seconds", type=float, default=1.0, help="time a run stays running")
    flyte.add_argument("--client-id", default="", help="require OAuth2 client credentials")
    flyte.add_argument("--client-secret", default="")

    julep = platforms.add_parser("julep", help="Julep REST API (served under /api)")
    julep.add_argument("--api-key", default="", help="accept only this API key (default: any key)")
    julep.add_argument("--step-seconds", type=float, default=0.5, help="time each step takes")
    julep.add_argument(
        "--sleep-scale", type=float, default=0.01, help="how much of a sleep step's duration is really slept"
    )
    for sub in (flyte, julep):
        sub.add_argument("--host", default="127.0.0.1")
        sub.add_argument("--port", type=int, default=0, help="0 picks a free port")
    args = parser.parse_args(argv)

    from airflow_remote_tasks.emulators.server import serve_forever

    app: Any
    if args.platform == "flyte":
        from airflow_remote_tasks.emulators.flyte import FlyteEmulator

        if bool(args.client_id) != bool(args.client_secret):
            parser.error("--client-id and --client-secret go together")
        app = FlyteEmulator(
            queue_seconds=args.queue_seconds,
            run_seconds=args.run_seconds,
            client_id=args.client_id,
            client_secret=args.client_secret,
        ).app
        path, note = "", "project flytesnacks"
        auth = (
            f"OAuth2: requires client id {args.client_id!r} and its secret"
            if args.client_id
            else "no authentication"
        )
    else:
        from airflow_remote_tasks.emulators.julep import DEMO_AGENT_ID, JulepEmulator

        app = JulepEmulator(
            api_key=args.api_key, step_seconds=args.step_seconds, sleep_scale=args.sleep_scale
        ).app
        path, note = "/api", f"agent {DEMO_AGENT_ID}"
        auth = f"requires API key {args.api_key!r}" if args.api_key else "accepts any API key"

    def announce(url: str) -> None:
        print(url + path, flush=True)
        print(
            f"{args.platform.capitalize()} emulator listening on {url}{path} ({note}; {auth}; "
            "Ctrl-C stops it)",
            file=sys.stderr,
        )

    serve_forever(app, args.host, args.port, announce)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
