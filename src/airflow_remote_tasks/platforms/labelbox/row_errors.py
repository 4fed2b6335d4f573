"""Rows or annotations Labelbox refused in a job that ran: failures handed to XCom, or the job failed for them
(``fail_on_row_errors``, the default)."""

from __future__ import annotations

from airflow_remote_tasks.core.errors import RemoteTaskError
from airflow_remote_tasks.core.models import RunRef

MAX_FAILED_ROWS = 100  # failed rows handed to XCom; the rest are counted


class RowErrorsError(RemoteTaskError):
    """Some rows were refused, and the job was told to fail on that (``fail_on_row_errors``)."""


def check_refused(ref: RunRef, done: str, refused: int, first: str) -> None:
    """:raises RowErrorsError: ``refused`` items were refused and the job fails on that; ``done`` says what
    Labelbox did ("imported 3 annotations"), ``first`` the first refusal's detail."""
    if refused and ref.flag("fail_on_row_errors", True):
        raise RowErrorsError(
            f"Labelbox {done} and refused {refused} (first: {first}); set fail_on_row_errors=False in the inputs "
            f"to succeed with the failures in XCom instead. {ref.url}".rstrip()
        )
