"""An export's zip, made while it is sent: memory stays flat however many annotations it holds."""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Iterable, Iterator
from typing import Any

CHUNK = 1 << 14  # bytes handed to the server at a time: a few such are in memory while a zip is sent


class _Drain:
    """Where the zip is written: no ``tell``/``seek``, so zipfile writes a streamable archive (sizes after each
    member's data), and what was written is taken out as it comes."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.size = 0

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        return None

    def close(self) -> None:
        return None

    def take(self) -> bytes:
        data = b"".join(self.parts)
        self.parts.clear()
        self.size = 0
        return data


def box(task: str, index: int) -> dict[str, Any]:
    """A made-up annotation of a task, the same on every export. Its uid is a hash, which deflate cannot
    shrink much (boxes alone repeat, and their zip is an eighth of the JSON): a big export is a big zip."""
    return {
        "uid": "ann-" + hashlib.blake2b(f"{task}/{index}".encode(), digest_size=16).hexdigest(),
        "label": ("car", "person", "sign")[index % 3],
        "bbox": [index % 640, index % 480, 32, 24],
        "index": index,
    }


def export_zip(tasks: Iterable[dict[str, Any]], annotations_per_task: int) -> Iterator[bytes]:
    """The bytes of a zip holding ``annotations.json``: a JSON list of ``tasks``, each with its
    ``annotations``; written a hundred annotations at a time, so no task is ever whole in memory."""
    sink = _Drain()
    with (
        zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as archive,
        archive.open("annotations.json", "w", force_zip64=True) as member,
    ):
        member.write(b"[")
        for index, task in enumerate(tasks):
            fields = json.dumps(task)[1:-1]
            member.write(f'{"," if index else ""}{{{fields}{", " if fields else ""}"annotations": ['.encode())
            for start in range(0, annotations_per_task, 100):
                batch = ",".join(
                    json.dumps(box(str(task.get("uid")), i))
                    for i in range(start, min(start + 100, annotations_per_task))
                )
                member.write(f"{',' if start else ''}{batch}".encode())
                if sink.size >= CHUNK:
                    yield sink.take()
            member.write(b"]}")
        member.write(b"]")
    # the member's sizes follow its data, and the archive's directory was written as it closed
    yield sink.take()
