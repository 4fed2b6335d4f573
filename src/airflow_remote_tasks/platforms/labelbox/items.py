"""The items a job sends (data rows, annotations), inline or one a line in an NDJSON file given by URI: read
once, each checked as it is read, before anything is sent."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Callable, Iterator
from typing import IO, Any

from airflow_remote_tasks.core.errors import ConfigurationError, InvalidInputsError
from airflow_remote_tasks.core.storage import shown
from airflow_remote_tasks.platforms.labelbox.jobs import (
    MAX_PER_ROW_AND_FEATURE,
    DataRow,
    ImportLabels,
    ImportPredictions,
    annotation,
    data_row,
)

OpenUri = Callable[[str], IO[bytes]]


def open_local(uri: str) -> IO[bytes]:
    """A local file by path or ``file://`` URI: the opener when none is given (the hook passes ObjectStoragePath's,
    for s3://, gs://, file://...)."""
    return open(uri.removeprefix("file://"), "rb")  # the caller closes it


def read_items(open_uri: OpenUri, source: list[dict[str, Any]] | str, what: str) -> Iterator[tuple[str, Any]]:
    """(where, value) for inline items, or for each line of an NDJSON file given by URI (named with any
    password in it masked).

    :raises InvalidInputsError: the file cannot be opened, or a line is not JSON."""
    if isinstance(source, list):
        for index, item in enumerate(source):
            yield f"{what}[{index}]", item
        return
    name = repr(shown(source))
    try:
        opened = open_uri(source)
    except (OSError, ValueError, ConfigurationError) as error:
        detail = str(error).replace(source, shown(source))  # an error may quote the URI
        raise InvalidInputsError(
            f"The {what} file {name} cannot be read ({type(error).__name__}: {detail}); nothing was started."
        ) from None
    with opened:
        for number, line in enumerate(opened, start=1):
            if not line.strip():
                continue
            try:
                yield f"line {number} of {name}", json.loads(line)
            except ValueError:
                raise InvalidInputsError(
                    f"Line {number} of {name} is not JSON: the {what} file holds one JSON object a line "
                    "(NDJSON); nothing was started."
                ) from None


def read_rows(open_uri: OpenUri, source: list[dict[str, Any]] | str) -> Iterator[DataRow]:
    """Each data row, checked as it is read.

    :raises InvalidInputsError: see :func:`read_items`, or a row is not a valid data row."""
    for where, value in read_items(open_uri, source, "rows"):
        yield data_row(value, where)


def read_annotations(open_uri: OpenUri, job: ImportLabels | ImportPredictions) -> Iterator[dict[str, Any]]:
    """Each annotation, checked as it is read; after the last, that there was one and that no data row has
    more than :data:`MAX_PER_ROW_AND_FEATURE` of one feature. Those are counted in a temporary SQLite
    database on local disk (gone once closed): a big file's (row, feature) pairs need not fit in memory.

    :raises InvalidInputsError: see :func:`read_items`, or an annotation is not valid, there is none, or there are
        too many of one feature on one row; nothing was started."""
    what = job.what
    with contextlib.closing(sqlite3.connect("")) as counts:  # "": a private database on disk
        counts.execute("CREATE TABLE seen (row TEXT, feature TEXT)")
        for where, value in read_items(open_uri, job.annotations, what):
            item = annotation(value, where)
            key = (
                json.dumps(item["dataRow"], sort_keys=True),
                str(item.get("name") or item.get("schemaId")),
            )
            counts.execute("INSERT INTO seen VALUES (?, ?)", key)
            yield item
        if counts.execute("SELECT 1 FROM seen LIMIT 1").fetchone() is None:
            raise InvalidInputsError(f"The {what} hold no annotation; nothing was started.")
        over = counts.execute(
            "SELECT row, feature FROM seen GROUP BY row, feature HAVING COUNT(*) > ? LIMIT 1",
            (MAX_PER_ROW_AND_FEATURE,),
        ).fetchone()
    if over is not None:
        raise InvalidInputsError(
            f"More than {MAX_PER_ROW_AND_FEATURE} {what} of feature {over[1]!r} on data row {over[0]}: "
            "Labelbox refuses that many; nothing was started."
        )
