"""The data plane's Connect services: DataProxyService (inputs, outputs, logs) and ClusterService."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from flyteidl2.cluster import payload_pb2
from flyteidl2.dataproxy import dataproxy_service_pb2 as dp

from airflow_remote_tasks.emulators.flyte.connect import action_run, from_dict, to_dict
from airflow_remote_tasks.emulators.flyte.state import FlyteState
from airflow_remote_tasks.emulators.server import REQUEST_BASE_URL

LOG_QUIET_SECONDS = 30  # like a pod's log stream, a tail does not end by itself: it stops after this long
LOG_INTERVAL = 0.1  # seconds between a tail's looks for new lines


class DataPlane:
    """The methods of the data plane's services (the generated applications call them by name)."""

    state: FlyteState
    # Where SelectCluster sends data-plane calls: empty, the endpoint the caller used (as OSS does); else another
    # address, as a split data plane on Union may be (whether it takes the same token is not documented).
    data_plane_url = ""

    async def get_action_data(self, request: dp.GetActionDataRequest, ctx: Any) -> dp.GetActionDataResponse:
        run = action_run(self.state, to_dict(request.action_id))
        base = f"s3://emulator/metadata/{run.project}/{run.domain}/{run.name}"
        body: dict[str, Any] = {"inputs": {"literals": run.input_literals}, "inputsUri": f"{base}/inputs.pb"}
        if run.phase() == "ACTION_PHASE_SUCCEEDED":
            body["outputs"] = {"literals": run.output_literals or []}
            body["outputsUri"] = f"{base}/a0/1/outputs.pb"
        return from_dict(body, dp.GetActionDataResponse())

    async def upload_inputs(self, request: dp.UploadInputsRequest, ctx: Any) -> dp.UploadInputsResponse:
        body = to_dict(request)
        offloaded = self.state.upload(list(body.get("inputs", {}).get("literals", [])))
        return from_dict({"offloadedInputData": offloaded}, dp.UploadInputsResponse())

    async def tail_logs(self, request: dp.TailLogsRequest, ctx: Any) -> AsyncIterator[dp.TailLogsResponse]:
        run = action_run(self.state, to_dict(request.action_id))
        sent = 0
        quiet_until = time.monotonic() + LOG_QUIET_SECONDS
        while time.monotonic() < quiet_until:
            lines = run.visible_logs()
            if len(lines) > sent:
                stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
                yield from_dict(
                    {
                        "logs": [
                            {
                                "lines": [
                                    {"timestamp": stamp, "message": line + "\n", "originator": "USER"}
                                    for line in lines[sent:]
                                ],
                                "container": {
                                    "kubernetesPodName": f"{run.name}-a0-0",
                                    "kubernetesContainerName": "a0",
                                },
                            }
                        ]
                    },
                    dp.TailLogsResponse(),
                )
                sent = len(lines)
            await asyncio.sleep(LOG_INTERVAL)

    async def select_cluster(
        self, request: payload_pb2.SelectClusterRequest, ctx: Any
    ) -> payload_pb2.SelectClusterResponse:
        # Like OSS: the data plane is the endpoint the caller used, unless another one is set.
        endpoint = self.data_plane_url or REQUEST_BASE_URL.get()
        return payload_pb2.SelectClusterResponse(cluster_endpoint=endpoint, cluster="emulator")
