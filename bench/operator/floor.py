"""The floor: how fast the test bed alone brings up what the operator creates for N queues.

The same children the operator would apply for each queue (its own planner makes them, for
a queue as the benchmark writes it), applied by the operator's own API client from as many
threads as it has workers, into another namespace, with the operator stopped; the stand-in
KEDA accepts the ScaledObjects. Timed until every Deployment has all its replicas available.

On a small machine the control plane's own work (Deployments, ReplicaSets, pods, their
statuses) takes most of the time to Ready; the operator's result divided by this floor,
measured in the same run, is the operator's own cost in a form the machine's load does not
move much.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from queuefleet_operator.config import OperatorConfig
from queuefleet_operator.kube import KubeApi
from queuefleet_operator.observed import Observed
from queuefleet_operator.planner import plan_from_body

from testbed.cluster import Cluster

from .watches import AvailableCount, KedaStandIn, api_client

__all__ = ["FLOOR_NAMESPACE", "children_of", "measure_floor"]

FLOOR_NAMESPACE = "bench-floor"


def children_of(queue: dict[str, Any], config: OperatorConfig) -> list[dict[str, Any]]:
    """What the operator applies for a new `queue`, minus the owner reference (there is no
    WorkflowQueue here; the garbage collector would delete children of a missing owner)."""
    body = {**queue, "metadata": {**queue["metadata"], "uid": "floor", "generation": 1}}
    observed = Observed(now=datetime.now(UTC), keda_installed=True)
    _, planned = plan_from_body(body, config, observed)
    manifests = []
    for manifest in planned.apply:
        metadata = {k: v for k, v in manifest["metadata"].items() if k != "ownerReferences"}
        manifests.append({**manifest, "metadata": {**metadata, "namespace": FLOOR_NAMESPACE}})
    if not manifests:
        raise RuntimeError(f"the planner applies nothing for {queue['metadata']['name']}")
    return manifests


def measure_floor(
    cluster: Cluster,
    queues: list[dict[str, Any]],
    config: OperatorConfig,
    *,
    workers: int,
    timeout: float,
) -> float:
    """Seconds from the first apply until every Deployment is fully available."""
    cluster.kubectl("create", "namespace", FLOOR_NAMESPACE)
    children = [children_of(queue, config) for queue in queues]
    kube = KubeApi(api_client(cluster, connections=workers))  # the operator's own client

    def apply_all(manifests: list[dict[str, Any]]) -> None:
        for manifest in manifests:  # in the operator's order, one queue after another
            kube.apply(manifest)

    with (
        KedaStandIn(cluster, FLOOR_NAMESPACE),
        AvailableCount(cluster, FLOOR_NAMESPACE) as available,
    ):
        try:
            started = time.monotonic()
            with ThreadPoolExecutor(max_workers=workers) as pool:
                list(pool.map(apply_all, children))
            deadline = started + timeout
            while available.count() < len(queues):
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"floor: only {available.count()}/{len(queues)} Deployments "
                        f"available after {timeout:.0f}s"
                    )
                time.sleep(0.2)
            return time.monotonic() - started
        finally:
            kube.close()
