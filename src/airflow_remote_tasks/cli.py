"""``remote-tasks``: serve an emulator on loopback."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from types import ModuleType

from airflow_remote_tasks.core.declaration import PlatformDeclaration


def main(argv: Sequence[str] | None = None) -> int:
    from airflow_remote_tasks.registry import DECLARATIONS

    parser = argparse.ArgumentParser(prog="remote-tasks", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    emulator = commands.add_parser("emulator", help="serve a platform emulator")
    by_platform = emulator.add_subparsers(dest="platform", required=True)
    emulators: dict[str, tuple[PlatformDeclaration, ModuleType]] = {}
    for declaration in DECLARATIONS:
        if not declaration.emulator:
            continue
        module = importlib.import_module(declaration.emulator)
        emulators[declaration.name] = (declaration, module)
        sub = by_platform.add_parser(declaration.name, help=f"{declaration.label} emulator")
        module.add_arguments(sub)
        sub.add_argument("--host", default="127.0.0.1")
        sub.add_argument("--port", type=int, default=0, help="0 picks a free port")
    args = parser.parse_args(argv)

    from airflow_remote_tasks.emulators.server import serve_forever

    declaration, module = emulators[args.platform]
    app, path, about = module.build(args)

    def announce(url: str) -> None:
        print(url + path, flush=True)
        print(
            f"{declaration.label} emulator listening on {url}{path} ({about}; Ctrl-C stops it)",
            file=sys.stderr,
        )

    serve_forever(app, args.host, args.port, announce)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
