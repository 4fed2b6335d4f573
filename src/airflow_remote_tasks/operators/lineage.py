"""Lineage of remote runs through Airflow's OpenLineage provider.

``LineageMixin`` answers the provider's listener (``get_openlineage_facets_on_complete`` and ``_on_failure``):
a job facet naming the platform and the remote task, run facets with the remote run's id and link, and the
datasets the run read and wrote: the platform's own objects (Labelbox and Avala projects and datasets), the
Flyte or Julep task it ran, and the files in object storage (an input file given by URI, ``output_path`` and
its errors file), each named as Airflow's OpenLineage integration names its asset URI. ``lineage_labels``
is the Airflow task run's OpenLineage identity as run labels (Flyte labels, Julep execution metadata), so the
remote run can be joined to the Airflow run that started it.

The provider is optional (``pip install 'airflow-provider-remote-tasks[openlineage]'``): it is imported only
when the listener asks, and without it, or with OpenLineage disabled, runs carry no lineage labels.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import urlsplit

from airflow_remote_tasks.core.assets import file_asset_uri
from airflow_remote_tasks.core.models import RunRef
from airflow_remote_tasks.registry import by_platform_name

if TYPE_CHECKING:
    from airflow.providers.openlineage.extractors import OperatorLineage
    from airflow.sdk import Context
    from openlineage.client.event_v2 import Dataset

    from airflow_remote_tasks.core.run_wait import WaitOutcome
    from airflow_remote_tasks.operators.waits_for_run import WaitsForRun as _Base
else:
    _Base = object

log = logging.getLogger(__name__)


class Touches(NamedTuple):
    """What one platform job reads and writes, by the names of its inputs: ``reads`` and ``writes`` map an
    input holding an id to the kind of platform object it names (``projects``), ``files`` names the inputs that
    may be the URI of a file the job reads (a list given inline is no dataset)."""

    reads: Mapping[str, str] = MappingProxyType({})
    writes: Mapping[str, str] = MappingProxyType({})
    files: tuple[str, ...] = ()


def _ids(**kinds: str) -> Mapping[str, str]:
    return MappingProxyType(kinds)


# The jobs whose inputs name what they touch (README: the Labelbox and Avala job tables). Flyte and Julep tasks
# are the user's own code: what they touch is known only through output_path (and the task itself).
JOBS: Mapping[tuple[str, str], Touches] = MappingProxyType(
    {
        ("labelbox", "export_project"): Touches(reads=_ids(project_id="projects")),
        ("labelbox", "export_dataset"): Touches(reads=_ids(dataset_id="datasets")),
        ("labelbox", "upsert_data_rows"): Touches(writes=_ids(dataset_id="datasets"), files=("rows",)),
        ("labelbox", "import_labels"): Touches(writes=_ids(project_id="projects"), files=("labels",)),
        ("labelbox", "import_predictions"): Touches(
            writes=_ids(project_id="projects"), files=("predictions",)
        ),
        ("avala", "export"): Touches(reads=_ids(project="projects", dataset="datasets")),
        # An auto-label job reads a project's items and writes its labels into the same project.
        ("avala", "auto_label"): Touches(reads=_ids(project="projects"), writes=_ids(project="projects")),
    }
)

JOBS_PLATFORMS = frozenset(platform for platform, _ in JOBS)


def _is_uri(value: Any) -> bool:
    return isinstance(value, str) and ("://" in value or value.startswith("/"))


# Kubernetes' label rules, which Flyte's run labels follow (they become the run's pods' labels): a value is at
# most 63 characters, alphanumerics, ``-``, ``_`` and ``.``, starting and ending with an alphanumeric, or empty.
# The keys below fit the rules for keys too. Julep metadata takes anything: one rule keeps the labels the same
# on every platform.
LABEL_VALUE = re.compile(r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?")
PARENT_LABELS = (
    "openlineage-parent-namespace",
    "openlineage-parent-job",
    "openlineage-parent-run-id",
    "openlineage-root-parent-namespace",
    "openlineage-root-parent-job",
    "openlineage-root-parent-run-id",
)


def lineage_labels(context: Context) -> dict[str, str]:
    """The OpenLineage identity of this task run and of its DAG run (namespace, job name, run id, as the
    provider's listener names them in its events), as labels for the remote run; empty when the OpenLineage
    provider is not installed or OpenLineage is disabled. A value that breaks the label rules
    (:data:`LABEL_VALUE`: a job name over 63 characters) is left out and logged: the run ids, UUIDs, always
    fit, and they are what a lineage backend joins on.

    Raises nothing: lineage never stops a run from starting.
    """
    try:
        from airflow.providers.openlineage import conf
        from airflow.providers.openlineage.plugins import macros
    except ImportError:  # the provider is optional
        return {}
    ti = context["ti"]
    try:
        if conf.is_disabled():
            return {}
        values = (
            macros.lineage_job_namespace(),  # type: ignore[no-untyped-call]
            macros.lineage_job_name(ti),
            macros.lineage_run_id(ti),
            macros.lineage_root_job_namespace(ti),
            macros.lineage_root_job_name(ti),
            macros.lineage_root_run_id(ti),
        )
    except Exception:  # a provider version that reads the task instance otherwise: the run starts unlabelled
        log.warning(
            "The OpenLineage identity of this task could not be read; the run carries none.", exc_info=True
        )
        return {}
    labels = {key: str(value) for key, value in zip(PARENT_LABELS, values, strict=True)}
    refused = [key for key, value in labels.items() if not LABEL_VALUE.fullmatch(value)]
    if refused:
        log.info(
            "Left out of the run's labels, as values no Flyte label can hold (63 characters at most: letters, "
            "digits, '-', '_' and '.', starting and ending with a letter or digit): %s",
            ", ".join(f"{key}={labels[key]!r}" for key in refused),
        )
    return {key: value for key, value in labels.items() if key not in refused}


# The platforms whose task is an asset (its URI's first form names a host and the task: Flyte, Julep): a run of
# the task is what the task's asset stands for.
TASK_ASSET_PLATFORMS = frozenset({"flyte", "julep"})


def storage_dataset(uri: str) -> tuple[str, str]:
    """The OpenLineage namespace and name of a file in object storage, by the spec's naming rules, where no
    installed provider converts its scheme (Airflow's converters name the others): ``s3://bucket/key`` is
    ``("s3://bucket", "key")``, ``file:///data/x`` and ``/data/x`` are ``("file", "/data/x")``. The connection
    id of Airflow's ``s3://<conn_id>@bucket/key`` form (or any user and password) is no part of the dataset
    and is dropped."""
    parts = urlsplit(file_asset_uri(uri))
    if parts.scheme == "file":
        return "file", parts.path
    return f"{parts.scheme}://{parts.netloc}", parts.path.lstrip("/")


def datasets(uris: list[str], platform_schemes: frozenset[str]) -> list[Any]:
    """The OpenLineage datasets of asset URIs (files' without user info: see
    :func:`~airflow_remote_tasks.core.assets.file_asset_uri`), each named as Airflow's OpenLineage integration names the asset
    (the converter its scheme's provider registers: this provider's for the platforms' schemes, Airflow's for
    files), so that a DAG scheduled on the asset joins the lineage. A file whose scheme no installed provider
    converts is named by :func:`storage_dataset`; a platform URI that is no valid asset is left out (logged)."""
    from airflow.providers.openlineage.utils.utils import translate_airflow_asset
    from airflow.sdk import Asset
    from openlineage.client.event_v2 import Dataset

    found: dict[tuple[str, str], Any] = {}
    for uri in uris:
        scheme = urlsplit(uri).scheme
        try:
            dataset = translate_airflow_asset(Asset(uri=uri), None)
        except ValueError as error:  # a platform id of no asset URI's form: it names nothing to join on
            log.info("No lineage dataset for %s: %s", uri, error)
            continue
        if dataset is None and scheme not in platform_schemes:
            namespace, name = storage_dataset(uri)
            dataset = Dataset(namespace=namespace, name=name)
        if dataset is not None:
            found.setdefault((dataset.namespace, dataset.name), dataset)
    return list(found.values())


class LineageMixin(_Base):
    """The OpenLineage facets and datasets of a :class:`RemoteTaskOperator`'s run (see the module's text).
    Listed before the operator's base, it records the run it waits on and what the run delivered."""

    # RemoteTaskOperator's arguments, read here.
    task: str | Mapping[str, Any]
    inputs: Any
    version: str
    _lineage_ref: RunRef | None = None
    _lineage_result: Any = None

    def _wait(self, context: Context, ref: RunRef, deadline: float | None) -> Any:
        self._lineage_ref = ref
        return super()._wait(context, ref, deadline)

    def _finish(self, context: Context, outcome: WaitOutcome) -> Any:
        self._lineage_ref = outcome.ref  # a deferred wait comes back in a new operator object
        self._lineage_result = super()._finish(context, outcome)
        return self._lineage_result

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> OperatorLineage[Dataset, Any]:
        """The run's lineage once the task succeeded: what it read and wrote, the remote task and the output
        files included."""
        return self._lineage(succeeded=True)

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> OperatorLineage[Dataset, Any]:
        """The run's lineage once the task failed: what it read, and the platform objects it may have
        changed. Files are left out: a run that does not deliver leaves ``output_path`` as it was."""
        return self._lineage(succeeded=False)

    def _lineage(self, *, succeeded: bool) -> OperatorLineage[Dataset, Any]:
        from airflow.providers.openlineage.extractors import OperatorLineage

        from airflow_remote_tasks.operators import lineage_facets

        ref = self._lineage_ref
        platform, task = self._platform_name(ref), self._task_name()
        touches = JOBS.get((platform, task), Touches())
        given = self.inputs if isinstance(self.inputs, Mapping) else {}
        reads: list[str] = []
        writes: list[str] = []
        # The objects' asset URIs (labelbox://projects/<id>): each platform's asset scheme is its name.
        for names, found in ((touches.reads, reads), (touches.writes, writes)):
            found.extend(
                f"{platform}://{kind}/{given[name]}" for name, kind in names.items() if given.get(name)
            )
        reads.extend(file_asset_uri(given[name]) for name in touches.files if _is_uri(given.get(name)))
        if succeeded:
            writes.extend(self._task_asset(ref, task))
            writes.extend(self._files_written())
        schemes = frozenset(JOBS_PLATFORMS | TASK_ASSET_PLATFORMS)
        return OperatorLineage(
            inputs=datasets(reads, schemes),
            outputs=datasets(writes, schemes),
            run_facets=lineage_facets.run_facets(ref) if ref is not None else {},
            job_facets=lineage_facets.job_facets(platform, task, self.version),
        )

    def _platform_name(self, ref: RunRef | None) -> str:
        if ref is not None:
            return ref.platform
        try:
            return self.hook.platform.name
        except Exception:  # no run and no usable connection: the facet names no platform
            return ""

    def _task_name(self) -> str:
        task = self.task
        return task if isinstance(task, str) else str(task.get("name", ""))

    def _task_asset(self, ref: RunRef | None, task: str) -> list[str]:
        """The asset URI of the task the run ran (its platform's first asset form), where it has one."""
        if ref is None or ref.platform not in TASK_ASSET_PLATFORMS:
            return []
        declaration = by_platform_name(ref.platform)
        if declaration is None or declaration.assets is None:
            return []
        try:
            host = urlsplit(self.hook.platform.api_origin).netloc.rpartition("@")[2]
        except Exception:  # the connection cannot be read now: the rest of the lineage still goes out
            log.info(
                "No lineage dataset for the task of run %s: its connection could not be read.", ref.run_id
            )
            return []
        values = {**{k: str(v) for k, v in ref.scope.items()}, "host": host, "task": task}
        try:
            return [declaration.assets.uri(0, **values)]
        except ValueError:  # a reference from an earlier release, without the scope the form needs
            return []

    def _files_written(self) -> list[str]:
        """``output_path``, and the errors file beside it when the delivery says it wrote one, as asset URIs
        (:func:`~airflow_remote_tasks.core.assets.file_asset_uri`: without user info)."""
        if not self.output_path:
            return []
        files = [self.output_path]
        result = self._lineage_result
        errors = result.get("errors") if isinstance(result, Mapping) else None
        if isinstance(errors, Mapping) and isinstance(errors.get("path"), str):
            files.append(str(errors["path"]))
        return [file_asset_uri(path) for path in files]
