"""1 -> N through the aggregation layer: the HPA reads KEDA's external metric."""

from __future__ import annotations

import asyncio
import json
import math

from temporalio.client import Client

from testbed.cluster import Cluster
from testbed.process import Process
from tests.e2e.autoscaling.pod_shim import PodShim
from tests.e2e.autoscaling.scaling import (
    apply_queue,
    fast_scaling,
    get,
    replicas,
    start_probes,
    wait_for,
    worker_spec,
)
from tests.e2e.conftest import EndToEnd


def external_metric(cluster: Cluster, namespace: str, scaled_object: str) -> float | None:
    """The value the HPA sees, read through kube-apiserver's aggregation layer."""
    found = get(cluster, namespace, "scaledobject", scaled_object) or {}
    names = (found.get("status") or {}).get("externalMetricNames") or []
    if not names:
        return None
    path = (
        f"/apis/external.metrics.k8s.io/v1beta1/namespaces/{namespace}/{names[0]}"
        f"?labelSelector=scaledobject.keda.sh%2Fname%3D{scaled_object}"
    )
    result = cluster.kubectl("get", "--raw", path, check=False)
    if result.returncode != 0:
        return None
    items = json.loads(result.stdout).get("items") or []
    return parse_quantity(items[0]["value"]) if items else None


def parse_quantity(value: str) -> float:
    return float(value[:-1]) / 1000 if value.endswith("m") else float(value)


async def test_hpa_scales_to_backlog_over_target_capped_at_max(
    e2e: EndToEnd,
    e2e_namespace: str,
    queuefleet_operator: Process,
    temporal_client: Client,
    task_queue: str,
) -> None:
    cluster, ns = e2e.cluster, e2e_namespace
    target, backlog = 5, 12
    scaling = fast_scaling(minReplicas=1, maxReplicas=10, targetBacklogPerReplica=target)
    apply_queue(cluster, ns, "wide", task_queue=task_queue, scaling=scaling, worker=worker_spec())
    await wait_for(lambda: replicas(cluster, ns, "wide-worker") == 1, timeout=30, what="1 replica")

    handles = await start_probes(temporal_client, task_queue, backlog)
    await wait_for(
        lambda: external_metric(cluster, ns, "wide-worker") == backlog,
        timeout=30,
        what=f"external metric {backlog} through the aggregation layer",
    )
    expected = math.ceil(backlog / target)
    await wait_for(
        lambda: replicas(cluster, ns, "wide-worker") == expected,
        timeout=30,
        what=f"HPA scaling to ceil({backlog}/{target}) = {expected}",
    )

    capped = 2
    apply_queue(
        cluster,
        ns,
        "wide",
        task_queue=task_queue,
        scaling={**scaling, "maxReplicas": capped},
        worker=worker_spec(),
    )
    await wait_for(
        lambda: replicas(cluster, ns, "wide-worker") == capped,
        timeout=30,
        what=f"replicas capped at maxReplicas {capped}",
    )

    with PodShim(cluster, ns, "wide-worker", e2e.artifacts / "e2e-workers" / ns) as shim:
        await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), 60)
        await wait_for(
            lambda: replicas(cluster, ns, "wide-worker") == 1,
            timeout=30,
            what="back to minReplicas once drained",
        )
        assert shim.error is None
