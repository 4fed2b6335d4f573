"""``remote-tasks``: serve an emulator on loopback."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="remote-tasks", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    emulator = commands.add_parser("emulator", help="serve a platform emulator")
    emulator.add_argument("platform", choices=["flyte"])
    emulator.add_argument("--host", default="127.0.0.1")
    emulator.add_argument("--port", type=int, default=0, help="0 picks a free port")
    emulator.add_argument("--queue-seconds", type=float, default=0.3, help="time a new run stays queued")
    emulator.add_argument("--run-seconds", type=float, default=1.0, help="time a run stays running")
    emulator.add_argument("--client-id", default="", help="require OAuth2 client credentials")
    emulator.add_argument("--client-secret", default="")
    args = parser.parse_args(argv)

    from airflow_remote_tasks.emulators.flyte import FlyteEmulator
    from airflow_remote_tasks.emulators.server import serve_forever

    if bool(args.client_id) != bool(args.client_secret):
        parser.error("--client-id and --client-secret go together")
    flyte = FlyteEmulator(
        queue_seconds=args.queue_seconds,
        run_seconds=args.run_seconds,
        client_id=args.client_id,
        client_secret=args.client_secret,
    )

    def announce(url: str) -> None:
        print(url, flush=True)
        print(f"Flyte emulator listening on {url} (project flytesnacks; Ctrl-C stops it)", file=sys.stderr)

    serve_forever(flyte.app, args.host, args.port, announce)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
