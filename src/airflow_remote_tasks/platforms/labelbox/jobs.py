"""The Labelbox jobs a DAG can start, each with the inputs it takes, checked before anything is sent.

Inputs use the official SDK's names (``project_id``, ``filters={"workflow_status": "Done"}``,
``params={"label_details": True}``), so a DAG author can follow Labelbox's own documentation.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from airflow_remote_tasks.core.arguments import invalid_inputs
from airflow_remote_tasks.core.errors import InvalidInputsError
from airflow_remote_tasks.core.models import InputSpec, RunOrigin

# SDK export parameter -> the export input's key.
EXPORT_PARAMS = {
    "attachments": "includeAttachments",
    "embeddings": "includeEmbeddings",
    "metadata_fields": "includeMetadata",
    "data_row_details": "includeDataRowDetails",
    "project_details": "includeProjectDetails",
    "performance_details": "includePerformanceDetails",
    "label_details": "includeLabelDetails",
    "interpolated_frames": "includeInterpolatedFrames",
}
CATALOG_PARAMS = {**EXPORT_PARAMS, "predictions": "includePredictions"}
MAX_IDS = 2000  # data_row_ids, global_keys: the SDK's limit per export
MAX_PROJECTS = 30  # project_ids, model_run_ids: likewise
ID_PATTERN = r"^[A-Za-z0-9_-]+$"  # project and dataset ids (cuids): never a path, as they go into links


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ExportFilters(Strict):
    """Which data rows an export holds (the SDK's filter names)."""

    last_activity_at: tuple[str | None, str | None] | None = None
    label_created_at: tuple[str | None, str | None] | None = None
    data_row_ids: list[str] | None = Field(default=None, max_length=MAX_IDS)
    global_keys: list[str] | None = Field(default=None, max_length=MAX_IDS)
    batch_ids: list[str] | None = None
    workflow_status: Literal["ToLabel", "InReview", "InRework", "Done"] | None = None

    @field_validator("last_activity_at", "label_created_at")
    @classmethod
    def _dates(cls, value: tuple[str | None, str | None] | None) -> tuple[str | None, str | None] | None:
        if value is not None:
            for bound in value:
                if bound is not None:
                    utc_text(bound)  # fails here, with the bad value named
        return value

    def search_query(self, scope: Literal["project", "dataset"]) -> list[dict[str, Any]]:
        if self.data_row_ids and self.global_keys:
            raise ValueError("data_row_ids and global_keys cannot be combined; pick one")
        if scope == "dataset" and (self.batch_ids or self.workflow_status):
            raise ValueError("batch_ids and workflow_status filter project exports only")
        items: list[dict[str, Any]] = []
        for name, kind in (
            ("last_activity_at", "data_row_last_activity_at"),
            ("label_created_at", "labeled_at"),
        ):
            bounds = getattr(self, name)
            if bounds is not None:
                items.append({"type": kind, "value": _range(*bounds)})
        for name, kind in (
            ("data_row_ids", "data_row_id"),
            ("global_keys", "global_key"),
            ("batch_ids", "batch"),
        ):
            ids = getattr(self, name)
            if ids:
                items.append({"ids": list(ids), "operator": "is", "type": kind})
        if self.workflow_status == "ToLabel":
            items.append({"type": "task_queue_not_exist"})
        elif self.workflow_status:
            items.append({"type": "task_queue_status", "status": self.workflow_status})
        return items


class ExportParams(Strict):
    """What each exported row includes (the SDK's parameter names)."""

    attachments: bool = False
    embeddings: bool = False
    metadata_fields: bool = False
    data_row_details: bool = False
    project_details: bool = False
    performance_details: bool = False
    label_details: bool = False
    interpolated_frames: bool = False
    media_type_override: str | None = None

    def wire(self, names: dict[str, str]) -> dict[str, Any]:
        wire: dict[str, Any] = {"mediaTypeOverride": self.media_type_override}
        wire.update({key: bool(getattr(self, name, False)) for name, key in names.items()})
        return wire


class CatalogParams(ExportParams):
    predictions: bool = False
    project_ids: list[str] | None = Field(default=None, max_length=MAX_PROJECTS)
    model_run_ids: list[str] | None = Field(default=None, max_length=MAX_PROJECTS)
    all_projects: bool = False
    all_model_runs: bool = False


class ExportProject(Strict):
    project_id: str = Field(min_length=1, pattern=ID_PATTERN)
    filters: ExportFilters = Field(default_factory=ExportFilters)
    params: ExportParams = Field(default_factory=ExportParams)

    def wire(self, name: str) -> dict[str, Any]:
        return {
            "taskName": name,
            "isStreamableReady": True,
            "filters": {
                "projectId": self.project_id,
                "searchQuery": {"scope": None, "query": self.filters.search_query("project")},
            },
            "params": self.params.wire(EXPORT_PARAMS),
            "streamable": True,
        }


class ExportDataset(Strict):
    dataset_id: str = Field(min_length=1, pattern=ID_PATTERN)
    filters: ExportFilters = Field(default_factory=ExportFilters)
    params: CatalogParams = Field(default_factory=CatalogParams)

    def wire(self, name: str) -> dict[str, Any]:
        params = self.params.wire(CATALOG_PARAMS)
        params.update(
            projectIds=self.params.project_ids or [],
            modelRunIds=self.params.model_run_ids,
            allProjects=self.params.all_projects,
            allModelRuns=self.params.all_model_runs,
        )
        # The dataset is the last item of the search query: that is how the catalog export is scoped.
        query = [
            *self.filters.search_query("dataset"),
            {"ids": [self.dataset_id], "operator": "is", "type": "dataset"},
        ]
        return {
            "taskName": name,
            "filters": {"searchQuery": {"scope": None, "query": query}},
            "isStreamableReady": True,
            "params": params,
            "streamable": True,
        }


class Attachment(Strict):
    type: str = Field(min_length=1)
    value: str
    name: str | None = None


class MetadataField(Strict):
    schema_id: str | None = None
    name: str | None = None
    value: Any


class DataRow(Strict):
    """One row to create or update, named by ``global_key`` (or an existing row's ``id``): so sending the same
    rows twice updates them, and a retry never duplicates a row."""

    global_key: str | None = Field(default=None, min_length=1)
    id: str | None = Field(default=None, min_length=1)
    row_data: str | None = None
    external_id: str | None = None
    media_type: str | None = None
    metadata_fields: list[MetadataField] | None = None
    attachments: list[Attachment] | None = None

    def item(self, dataset_id: str, *, existing: bool) -> dict[str, Any]:
        """The row as an upsert chunk holds it: keyed by its global key when a row has that key
        (``existing``), created with it when none has (as the SDK does), else keyed by its id."""
        key = (
            {"type": "GKEY" if existing else "AUTO", "value": self.global_key if existing else ""}
            if self.global_key
            else {"type": "ID", "value": self.id}
        )
        payload = self.model_dump(exclude_none=True, exclude={"id"})
        payload["dataset_id"] = dataset_id
        return {"id": key, "payload": payload}


class UpsertDataRows(Strict):
    dataset_id: str = Field(min_length=1, pattern=ID_PATTERN)
    # Inline rows, or the URI of an NDJSON file of them (one row a line) read through ObjectStoragePath.
    rows: list[dict[str, Any]] | str = Field(description="a list of rows or the URI of an NDJSON file")
    fail_on_row_errors: bool = True


Annotations = list[dict[str, Any]] | str  # inline NDJSON annotations, or the URI of a file of them


class AnnotationImport(Strict):
    """Annotations imported into a project; ``what``: the input that holds them, as messages name them."""

    what: ClassVar[str]

    @property
    def annotations(self) -> Annotations:
        value: Annotations = getattr(self, self.what)
        return value


class ImportLabels(AnnotationImport):
    """Ground-truth labels for a project."""

    what = "labels"
    project_id: str = Field(min_length=1, pattern=ID_PATTERN)
    labels: Annotations
    fail_on_row_errors: bool = True


class ImportPredictions(AnnotationImport):
    """Model predictions shown to labellers as pre-labels (model-assisted labeling)."""

    what = "predictions"
    project_id: str = Field(min_length=1, pattern=ID_PATTERN)
    predictions: Annotations
    fail_on_row_errors: bool = True


JOBS: dict[str, type[Strict]] = {
    "export_project": ExportProject,
    "export_dataset": ExportDataset,
    "upsert_data_rows": UpsertDataRows,
    "import_labels": ImportLabels,
    "import_predictions": ImportPredictions,
}
Job = ExportProject | ExportDataset | UpsertDataRows | ImportLabels | ImportPredictions
MAX_PER_ROW_AND_FEATURE = 5000  # annotations of one feature on one data row, as the SDK checks


@dataclass(frozen=True)
class PreparedJob:
    """A job's inputs, parsed once: the job, and its inline rows or annotations as checked (``None`` when they
    are in a file, checked as the submit reads it, once)."""

    job: Job
    checked: list[Any] | None = None


def annotation(value: Any, where: str) -> dict[str, Any]:
    """One annotation line, checked the way the SDK checks it before an import.

    :raises InvalidInputsError: naming the line and what is wrong with it.
    """
    if not isinstance(value, dict):
        raise InvalidInputsError(f"{where} is not a JSON object; nothing was started.")
    row = value.get("dataRow")
    if not isinstance(row, dict) or len([k for k in ("id", "globalKey") if row.get(k)]) != 1:
        raise InvalidInputsError(
            f"{where} needs 'dataRow' with exactly one of 'id' or 'globalKey' (the row it annotates); "
            "nothing was started."
        )
    if not value.get("name") and not value.get("schemaId"):
        raise InvalidInputsError(f"{where} names no feature ('name' or 'schemaId'); nothing was started.")
    return value


def data_row(row: Any, where: str) -> DataRow:
    """One row, checked.

    :raises InvalidInputsError: naming the row and what is wrong with it.
    """
    try:
        parsed = DataRow.model_validate(row)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'row'}: {e['msg']}" for e in error.errors())
        raise InvalidInputsError(
            f"{where} is not a valid data row ({problems}); nothing was started."
        ) from None
    if not parsed.global_key and not parsed.id:
        raise InvalidInputsError(
            f"{where} has neither 'global_key' nor 'id': rows are upserted by key, so that a retry updates "
            "them instead of creating them twice; nothing was started."
        )
    return parsed


def task_name(origin: RunOrigin) -> str:
    """The name an export or import is created under, derived from the task instance: so it is found again
    after an answer was lost, or by the task's next try."""
    return "airflow-" + hashlib.sha256(origin.key.encode()).hexdigest()[:24]


def job_inputs(kind: str) -> list[InputSpec]:
    """A job's inputs, for messages that list what it takes."""
    model = JOBS[kind]
    return [
        InputSpec(
            name=name,
            type=_type_name(field.annotation),
            required=field.is_required(),
            has_default=not field.is_required(),
        )
        for name, field in model.model_fields.items()
    ]


def parse_job(kind: str, inputs: dict[str, Any]) -> Job:
    """The job's inputs, checked.

    :raises InvalidInputsError: listing each problem by its place (``filters.workflow_status``...).
    """
    try:
        job = JOBS[kind].model_validate(inputs)
        assert isinstance(
            job, ExportProject | ExportDataset | UpsertDataRows | ImportLabels | ImportPredictions
        )
        if isinstance(job, ExportProject | ExportDataset):
            scope: Literal["project", "dataset"] = "project" if isinstance(job, ExportProject) else "dataset"
            job.filters.search_query(scope)
    except ValidationError as error:
        raise invalid_inputs(error, JOBS[kind], f"Inputs for Labelbox job {kind!r}") from None
    except ValueError as error:
        raise InvalidInputsError(f"Inputs for Labelbox job {kind!r}: {error}; nothing was started.") from None
    return job


def utc_text(value: str) -> str:
    """A date as Labelbox's filters take it: ``YYYY-MM-DD[ hh:mm:ss]`` (read as UTC, said so in the README) or
    ISO 8601 with an offset (converted to UTC)."""
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{value!r} is not a date: use YYYY-MM-DD, 'YYYY-MM-DD hh:mm:ss' or ISO 8601"
        ) from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(timezone.utc)
    return parsed.strftime("%Y-%m-%d %H:%M:%S")


def _range(start: str | None, end: str | None) -> dict[str, Any]:
    if start is not None and end is not None:
        return {
            "operator": "BETWEEN",
            "timezone": "UTC",
            "value": {"min": utc_text(start), "max": utc_text(end)},
        }
    if start is not None:
        return {"operator": "GREATER_THAN_OR_EQUAL", "timezone": "UTC", "value": utc_text(start)}
    if end is not None:
        return {"operator": "LESS_THAN_OR_EQUAL", "timezone": "UTC", "value": utc_text(end)}
    raise ValueError("a date range needs a start, an end, or both")


def _type_name(annotation: Any) -> str:
    name = getattr(annotation, "__name__", None) or str(annotation)
    return {"ExportFilters": "filters", "ExportParams": "params", "CatalogParams": "params"}.get(name, name)
