"""One Flyte connection's calls: the services' names, identifiers in the connection's scope, and where the
credentials may go (the endpoint, and the data plane the connection names)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from airflow_remote_tasks.core.auth import authorized
from airflow_remote_tasks.core.models import RunRef
from airflow_remote_tasks.core.operation import Operation, origin
from airflow_remote_tasks.platforms.flyte import PLATFORM, connect
from airflow_remote_tasks.platforms.flyte.auth import FlyteAuth
from airflow_remote_tasks.platforms.flyte.config import FlyteConfig

T = TypeVar("T")

RUN_SERVICE = "flyteidl2.workflow.RunService"
TASK_SERVICE = "flyteidl2.task.TaskService"
DATA_PROXY = "flyteidl2.dataproxy.DataProxyService"
GET_PROJECT = "flyteidl2.project.ProjectService/GetProject"
SELECT_CLUSTER = "flyteidl2.cluster.ClusterService/SelectCluster"
ROOT_ACTION = "a0"
LIST_RUNS_LIMIT = 200  # ListRuns' largest page


class FlyteApi:
    """The calls of one connection (``config``), signed by ``auth`` where they go to the endpoint."""

    def __init__(self, config: FlyteConfig, auth: FlyteAuth | None) -> None:
        self.config = config
        self.auth = auth

    # -- identifiers ---------------------------------------------------------------------------

    @property
    def project_id(self) -> dict[str, str]:
        return {"organization": self.config.org, "name": self.config.project, "domain": self.config.domain}

    def run_id(self, ref: RunRef) -> dict[str, str]:
        scope = ref.scope
        return {
            "org": scope.get("org", ""),
            "project": scope["project"],
            "domain": scope["domain"],
            "name": ref.run_id,
        }

    def action_id(self, ref: RunRef) -> dict[str, Any]:
        return {"run": self.run_id(ref), "name": ref.scope.get("action", ROOT_ACTION)}

    def ref_for(self, name: str, action: str = ROOT_ACTION) -> RunRef:
        c = self.config
        return RunRef(
            platform=PLATFORM.name,
            run_id=name,
            scope={"org": c.org, "project": c.project, "domain": c.domain, "action": action},
            url=c.run_url(c.project, c.domain, name),
        )

    # -- calls ---------------------------------------------------------------------------------

    def call(
        self,
        method: str,
        message: dict[str, Any],
        *,
        base: str = "",
        idempotent: bool = True,
        refused: str = connect.CREDENTIALS_REFUSED,
    ) -> Operation[dict[str, Any]]:
        """``method`` at ``base`` (the endpoint when empty). Raises what :func:`connect.unary` raises."""
        return connect.unary(
            base or self.config.endpoint, method, message, idempotent=idempotent, refused=refused
        )

    def select_cluster(self, operation: str, resource: dict[str, Any]) -> Operation[str]:
        """The address ``operation`` on ``resource`` goes to (SelectCluster): the endpoint, or a data plane."""
        body = yield from self.call(SELECT_CLUSTER, {"operation": operation, **resource})
        endpoint = str(body.get("clusterEndpoint", "")).rstrip("/")
        return endpoint if endpoint and endpoint != self.config.endpoint else self.config.endpoint

    def on_data_plane(self, base: str, call: Callable[[str], Operation[T]]) -> Operation[T]:
        """Run ``call(refused)``, a call at ``base`` (the address SelectCluster named), with the connection's
        credentials where they may go: the hook signs the endpoint's origin, and the Data plane URL's origin is
        signed here (the hook passes a request to another origin on as it is). Anywhere else the call carries
        none, and a refusal (``refused``, the text :mod:`connect` gives it) says which field would send them.
        Raises what ``call`` raises."""
        data_plane = self.config.data_plane_url
        if self.auth is None or origin(base) == origin(self.config.endpoint):
            return (yield from call(connect.CREDENTIALS_REFUSED))
        if data_plane and origin(base) == origin(data_plane):
            return (yield from authorized(call(connect.CREDENTIALS_REFUSED), self.auth, data_plane))
        return (
            yield from call(
                f"The data plane {origin(base)} that {SELECT_CLUSTER} named is not the endpoint's origin "
                f"({origin(self.config.endpoint)}), so the call carried none of the connection's credentials. "
                "If that data plane takes the control plane's credentials, set the connection's Data plane URL "
                f"to {origin(base)}."
            )
        )
