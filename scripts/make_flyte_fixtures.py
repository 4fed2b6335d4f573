"""Write the Flyte wire fixtures in ``tests/fixtures/flyte/`` from flyteidl2's own messages.

Each example is built as a flyteidl2 message (a field that does not exist fails here) and written as
proto3 JSON, the form the Connect protocol carries. The one negative example is written as plain JSON on
purpose: it sets two members of one oneof, which no message can hold, and the tests check that a strict
parse rejects it. ``python scripts/make_flyte_fixtures.py --check`` fails when the files are stale.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import flyteidl2.workflow.run_service_pb2 as run_service
from google.protobuf import json_format

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "flyte"

RUN_ID = {"org": "my-org", "project": "flytesnacks", "domain": "development", "name": "rk2x8w4qz7n5m1p9s3t6"}
ACTION_ID = {"run": RUN_ID, "name": "a0"}
TASK_METADATA = {
    "task": {
        "id": {
            **{k: RUN_ID[k] for k in ("org", "project", "domain")},
            "name": "my_env.say_hello",
            "version": "v1",
        },
        "taskType": "python",
        "shortName": "say_hello",
    },
    "actionType": "ACTION_TYPE_TASK",
}


def run_details(action: dict[str, Any], run_spec: dict[str, Any] | None = None) -> dict[str, Any]:
    details: dict[str, Any] = {"action": {"id": ACTION_ID, **action}}
    if run_spec is not None:
        details["runSpec"] = run_spec
    message = json_format.ParseDict({"details": details}, run_service.GetRunDetailsResponse())
    return json_format.MessageToDict(message)


def examples() -> dict[str, Any]:
    return {
        "GetRunDetailsResponse_running.json": run_details(
            {
                "metadata": TASK_METADATA,
                "status": {
                    "phase": "ACTION_PHASE_RUNNING",
                    "startTime": "2026-01-01T00:00:01Z",
                    "attempts": 1,
                },
                "attempts": [
                    {
                        "phase": "ACTION_PHASE_RUNNING",
                        "startTime": "2026-01-01T00:00:02Z",
                        "attempt": 1,
                        "logsAvailable": True,
                        "logInfo": [
                            {"uri": "https://logs.example.com/pod/a0-0", "name": "Logs", "ready": True}
                        ],
                    }
                ],
            },
            {"labels": {"values": {"triggered-by": "airflow"}}},
        ),
        "GetRunDetailsResponse_succeeded.json": run_details(
            {
                "metadata": TASK_METADATA,
                "status": {
                    "phase": "ACTION_PHASE_SUCCEEDED",
                    "startTime": "2026-01-01T00:00:01Z",
                    "endTime": "2026-01-01T00:00:15.500Z",
                    "attempts": 1,
                    "durationMs": "14500",
                },
                "attempts": [
                    {
                        "phase": "ACTION_PHASE_SUCCEEDED",
                        "attempt": 1,
                        "outputs": {"outputUri": "s3://my-bucket/metadata/a0/1/outputs.pb"},
                    }
                ],
            }
        ),
        "GetRunDetailsResponse_failed.json": run_details(
            {
                "status": {"phase": "ACTION_PHASE_FAILED", "attempts": 1},
                "errorInfo": {"message": "ValueError: n must be positive", "kind": "KIND_USER"},
            }
        ),
        # Invalid on purpose: org and projectId are members of one oneof.
        "NEGATIVE_ListTasksRequest_org_and_projectId.json": {
            "org": "my-org",
            "projectId": {"organization": "my-org", "name": "flytesnacks", "domain": "development"},
            "request": {"limit": 1},
        },
    }


def render(body: Any) -> str:
    return json.dumps(body, indent=2, sort_keys=True) + "\n"


def main(argv: list[str]) -> int:
    stale = []
    for name, body in examples().items():
        path = OUT / name
        text = render(body)
        if "--check" in argv:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
            continue
        OUT.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    if stale:
        print(f"Stale fixtures (run scripts/make_flyte_fixtures.py): {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
