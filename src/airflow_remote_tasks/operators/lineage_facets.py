"""The OpenLineage facets of a remote run (see :mod:`~airflow_remote_tasks.operators.lineage`). Imported only
when the OpenLineage provider asks for lineage: this module needs the ``openlineage-python`` client."""

from __future__ import annotations

from typing import Any

import attrs
from openlineage.client.facet_v2 import JobFacet, RunFacet, external_query_run

from airflow_remote_tasks.core.models import RunRef
from airflow_remote_tasks.core.storage import shown

# The facets' keys in an event's ``job.facets`` and ``run.facets``.
JOB_FACET = "remoteTask"
RUN_FACET = "remoteRun"


@attrs.define
class RemoteTaskJobFacet(JobFacet):
    """The remote task a job runs: its platform (``flyte``, ``julep``, ``labelbox``, ``avala``), the task as
    the operator names it, and the version asked for where one was pinned."""

    platform: str
    task: str
    version: str | None = None


@attrs.define
class RemoteRunRunFacet(RunFacet):
    """The remote run a task run started or attached to: the platform's id of it, its link, and where it lives
    (the reference's scope: Flyte's org, project and domain; Avala's project...)."""

    platform: str
    runId: str  # OpenLineage's field names are camelCase
    url: str | None = None
    scope: dict[str, Any] = attrs.field(factory=dict)


def job_facets(platform: str, task: str, version: str) -> dict[str, Any]:
    """``remoteTask``; a version of ``"latest"`` (the default) names no version and is left out."""
    pinned = version if version and version != "latest" else None
    return {JOB_FACET: RemoteTaskJobFacet(platform=platform, task=task, version=pinned)}


def run_facets(ref: RunRef) -> dict[str, Any]:
    """``remoteRun`` (its link with any password masked, as in XCom), and OpenLineage's own ``externalQuery`` (the id of the run in the platform that ran it,
    as for a query id in a warehouse)."""
    scope = {k: v for k, v in ref.scope.items() if isinstance(v, str | int | float | bool)}
    return {
        RUN_FACET: RemoteRunRunFacet(
            platform=ref.platform, runId=ref.run_id, url=shown(ref.url) if ref.url else None, scope=scope
        ),
        "externalQuery": external_query_run.ExternalQueryRunFacet(
            externalQueryId=ref.run_id, source=ref.platform
        ),
    }
