"""``remote-tasks``: serve an emulator on loopback."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    from airflow_remote_tasks.platforms import PLATFORMS

    parser = argparse.ArgumentParser(prog="remote-tasks", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    emulator = commands.add_parser("emulator", help="serve a platform emulator")
    platforms = emulator.add_subparsers(dest="platform", required=True)
    modules = {}
    for platform in PLATFORMS.values():
        if not platform.emulator:
            continue
        module = modules[platform.name] = importlib.import_module(platform.emulator)
        sub = platforms.add_parser(platform.name, help=f"{platform.label} emulator")
        module.add_arguments(sub)
        sub.add_argument("--host", default="127.0.0.1")
        sub.add_argument("--port", type=int, default=0, help="0 picks a free port")
    args = parser.parse_args(argv)

    from airflow_remote_tasks.emulators.server import serve_forever

    app, path, about = modules[args.platform].build(args)
    label = PLATFORMS[args.platform].label

    def announce(url: str) -> None:
        print(url + path, flush=True)
        print(f"{label} emulator listening on {url}{path} ({about}; Ctrl-C stops it)", file=sys.stderr)

    serve_forever(app, args.host, args.port, announce)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
