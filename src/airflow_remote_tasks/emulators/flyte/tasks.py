"""The emulator's seeded tasks: their interfaces (as Flyte LiteralTypes) and what they compute."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from airflow_remote_tasks.emulators.flyte.literals import write


def simple(name: str) -> dict[str, Any]:
    """A simple LiteralType (proto3 JSON): ``STRING``, ``INTEGER``, ``FLOAT``, ``BOOLEAN``, ``STRUCT``, ..."""
    return {"simple": name}


def optional(t: dict[str, Any], tag: str) -> dict[str, Any]:
    """A union of ``t`` and none, each variant tagged as the SDK tags an ``Optional``'s."""
    none = {**simple("NONE"), "structure": {"tag": "none"}}
    return {"unionType": {"variants": [{**t, "structure": {"tag": tag}}, none]}}


class TaskFailure(Exception):
    """Raised by a seeded task: the run ends FAILED with this error."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class SeedTask:
    name: str
    version: str
    inputs: dict[str, dict[str, Any]]
    outputs: dict[str, dict[str, Any]]
    compute: Callable[[dict[str, Any]], dict[str, Any]]
    defaults: dict[str, Any] = field(default_factory=dict)
    # Seconds in RUNNING, from an input (e.g. a sleep task) or the emulator's default.
    duration: Callable[[dict[str, Any]], float | None] = lambda inputs: None


def task_spec(task: SeedTask, project: str, domain: str) -> dict[str, Any]:
    """The TaskSpec (proto3 JSON) of a seeded task: interface, defaults, a container template."""
    interface = {
        "inputs": {"variables": [{"key": k, "value": {"type": t}} for k, t in task.inputs.items()]},
        "outputs": {"variables": [{"key": k, "value": {"type": t}} for k, t in task.outputs.items()]},
    }
    defaults = [
        {
            "name": k,
            "parameter": {"var": {"type": task.inputs[k]}, "default": write(v, task.inputs[k])},
        }
        for k, v in task.defaults.items()
    ]
    template = {
        "id": {
            "resourceType": "TASK",
            "project": project,
            "domain": domain,
            "name": task.name,
            "version": task.version,
        },
        "type": "python",
        "interface": interface,
        "metadata": {"runtime": {"type": "FLYTE_SDK", "flavor": "python"}, "retries": {}},
        "container": {"image": "emulator/demo:latest", "args": ["pyflyte-execute"]},
    }
    return {"taskTemplate": template, "defaultInputs": defaults, "shortName": task.name.split(".")[-1]}


def _say_hello_v1(i: dict[str, Any]) -> dict[str, Any]:
    return {"o0": f"Hello, {i['name']}!"}


def _say_hello(i: dict[str, Any]) -> dict[str, Any]:
    if i["n"] < 1:
        raise TaskFailure("ValueError", f"ValueError: n must be positive, got {i['n']}")
    return {"o0": " ".join([f"Hello, {i['name']}!"] * i["n"])}


def _stats(i: dict[str, Any]) -> dict[str, Any]:
    values = i["values"]
    if not values:
        raise TaskFailure("StatisticsError", "StatisticsError: mean requires at least one data point")
    return {"mean": statistics.fmean(values), "maximum": max(values), "count": len(values)}


def _fail(i: dict[str, Any]) -> dict[str, Any]:
    raise TaskFailure("RuntimeError", f"RuntimeError: {i['message']}")


def _describe(i: dict[str, Any]) -> dict[str, Any]:
    config = dict(i["config"])
    return {
        "o0": {
            "config": config,
            "keys": sorted(config),
            "tags": i["tags"] or [],
            "scaled": {k: v * 2 for k, v in i["weights"].items()},
        }
    }


def seed_tasks() -> list[SeedTask]:
    """The tasks a new emulator holds, each in its own copy."""
    string, integer, double = simple("STRING"), simple("INTEGER"), simple("FLOAT")
    return [
        SeedTask("demo.say_hello", "v1", {"name": string}, {"o0": string}, _say_hello_v1),
        SeedTask(
            "demo.say_hello",
            "v2",
            {"name": string, "n": integer},
            {"o0": string},
            _say_hello,
            defaults={"n": 1},
        ),
        SeedTask(
            "demo.stats",
            "v1",
            {"values": {"collectionType": double}},
            {"mean": double, "maximum": double, "count": integer},
            _stats,
        ),
        SeedTask(
            "demo.fail",
            "v1",
            {"message": string},
            {},
            _fail,
            defaults={"message": "the task failed on purpose"},
        ),
        SeedTask(
            "demo.sleep",
            "v1",
            {"seconds": double},
            {"o0": double},
            lambda i: {"o0": i["seconds"]},
            duration=lambda i: float(i["seconds"]),
        ),
        SeedTask(
            "demo.big_output", "v1", {"size": integer}, {"o0": string}, lambda i: {"o0": "x" * i["size"]}
        ),
        SeedTask(
            "demo.describe",
            "v1",
            {
                "config": simple("STRUCT"),
                "tags": optional({"collectionType": string}, "list"),
                "weights": {"mapValueType": double},
            },
            {"o0": simple("STRUCT")},
            _describe,
            defaults={"tags": None, "weights": {}},
        ),
    ]
