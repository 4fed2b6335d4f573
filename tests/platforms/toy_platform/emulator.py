"""``remote-tasks emulator toy``: a loopback server of the toy's protocol (runs finish at once)."""

from __future__ import annotations

import argparse
import json
from typing import Any


class ToyEmulator:
    """The ASGI app."""

    def __init__(self) -> None:
        self.runs: dict[str, dict[str, Any]] = {}

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        status, answer = self.answer(scope["method"], scope["path"], json.loads(body) if body else None)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": json.dumps(answer).encode()})

    def answer(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        if (method, path) == ("GET", "/runs"):
            return 200, list(self.runs.values())
        if (method, path) == ("POST", "/runs"):
            same = [run for run in self.runs.values() if run["key"] == body["key"]]
            if same:
                return 200, same[0]
            run = {"id": f"run-{len(self.runs) + 1}", "key": body["key"], "state": "done"}
            run["outputs"] = {"loud": body["text"].upper(), "task": body["task"]}
            self.runs[run["id"]] = run
            return 200, run
        run_id = path.removeprefix("/runs/")
        if method == "GET" and run_id in self.runs:
            return 200, self.runs[run_id]
        return 404, {"error": "not found"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The toy emulator has no options."""


def build(args: argparse.Namespace) -> tuple[Any, str, str]:
    return ToyEmulator(), "", "runs finish at once"
