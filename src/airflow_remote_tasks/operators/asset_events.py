"""What a remote task records on its outlets once its run has delivered: the run's summary in the ``extra`` of
each asset event, and an event on the file written to ``output_path``.

Airflow registers the events when the task succeeds, never before, so a failed run or a failed write records
none. The file's event is added through an ``AssetAlias`` the operator declares when it is made
(:func:`output_path_outlets`), whether ``output_path`` is templated or not: the file's URI is known only once
the template is rendered, and an alias records an event only when told to, so a task that succeeds without
writing the file (a run paused for input, with ``on_paused="succeed"``) records none on it. A DAG scheduled on
``Asset("s3://bucket/exports/labels.ndjson")`` (the file's URI without its conn_id, see
:func:`~airflow_remote_tasks.core.assets.file_asset_uri`) or on the alias (:func:`output_path_alias`) runs
once the file is complete.

Nothing secret reaches ``extra``: paths and links are shown with any password masked, as in XCom.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import Asset, AssetAlias, Context

from airflow_remote_tasks.core.assets import file_asset_uri
from airflow_remote_tasks.core.models import RunRef, RunStatus
from airflow_remote_tasks.core.storage import shown, storage_path

# The names of the aliases this provider declares start so: a person's own aliases on the task are left alone.
ALIAS_PREFIX = "remote-tasks output_path "
# The counts a platform's result may carry (a download's summary; Labelbox's upserts and imports): copied into
# an event's extra where they are numbers.
COUNTS = ("bytes", "rows", "succeeded", "failed")


def output_path_alias(output_path: str) -> AssetAlias:
    """The alias of the files a task writes to ``output_path`` (as written in the DAG, templates and all): a
    DAG scheduled on it runs after each file is complete, wherever its template put it."""
    return AssetAlias(name=f"{ALIAS_PREFIX}{shown(output_path)}")


def output_path_outlets(output_path: str | None) -> list[AssetAlias]:
    """The outlets a task writing to ``output_path`` declares when it is made: its alias, or none."""
    return [output_path_alias(output_path)] if output_path else []


def run_summary(ref: RunRef, status: RunStatus, value: Any) -> dict[str, Any]:
    """A run's summary for an asset event's ``extra``: platform, run id, link, phase, and the counts the
    platform reports (attempts, steps, percent; bytes, rows, succeeded, failed where the result has them)."""
    summary: dict[str, Any] = {
        "platform": ref.platform,
        "run_id": ref.run_id,
        "url": shown(ref.url) if ref.url else None,
        "phase": status.phase.value,
        "raw_phase": status.raw_phase,
    }
    for name in ("attempts", "steps"):
        if getattr(status, name):
            summary[name] = getattr(status, name)
    if status.percent is not None:
        summary["percent"] = status.percent
    if isinstance(value, dict):
        summary.update(
            (k, value[k]) for k in COUNTS if isinstance(value.get(k), int) and not isinstance(value[k], bool)
        )
    return summary


def record_asset_events(context: Context, operator: Any, ref: RunRef, status: RunStatus, value: Any) -> None:
    """Put the run's summary in the event of each of ``operator``'s assets, and, when its outputs were written
    to ``output_path``, add an event on that file through the operator's alias. Called with what XCom is about
    to get (``value``: the outputs, their summary, or a paused run's pending state).

    :raises ConfigurationError: ``output_path`` cannot be opened (it was opened to write the file already).
    """
    if not operator.outlets:  # nothing to record, and nothing to read the summary for
        return
    summary = run_summary(ref, status, value)
    events = context["outlet_events"]
    for outlet in operator.outlets:
        if isinstance(outlet, Asset):
            events[outlet].extra.update(summary)
    output_path = getattr(operator, "output_path", None)
    if not output_path or not status.phase.is_success:  # paused: nothing was written there
        return
    file = Asset(uri=file_asset_uri(storage_path(output_path)))
    written = value if isinstance(value, dict) else {}  # deliver's summary: where the file went
    extra = {**summary, "path": written.get("path"), "errors": written.get("errors")}
    for alias in operator.outlets:
        if isinstance(alias, AssetAlias) and alias.name.startswith(ALIAS_PREFIX):
            events[alias].add(file, extra=extra)
