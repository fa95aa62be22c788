"""KEDA's operator restarted: nothing scales while it is down, scaling resumes when it is back."""

from __future__ import annotations

from temporalio.client import Client

from testbed.process import Process
from tests.e2e.autoscaling.scaling import (
    apply_queue,
    fast_scaling,
    holds,
    replicas,
    start_probes,
    wait_for,
    worker_spec,
)
from tests.e2e.autoscaling.test_scale_from_zero import MARGIN_SECONDS
from tests.e2e.conftest import EndToEnd


async def test_scaling_resumes_after_keda_restarts(
    e2e: EndToEnd,
    e2e_namespace: str,
    queuefleet_operator: Process,
    temporal_client: Client,
    task_queue: str,
) -> None:
    cluster, ns = e2e.cluster, e2e_namespace
    scaling = fast_scaling(minReplicas=0)
    apply_queue(cluster, ns, "again", task_queue=task_queue, scaling=scaling, worker=worker_spec())
    await wait_for(
        lambda: replicas(cluster, ns, "again-worker") == 0, timeout=45, what="0 replicas"
    )

    e2e.keda.stop_operator()
    try:
        await start_probes(temporal_client, task_queue, 3)
        # Several polling intervals with a backlog and no KEDA: nobody scales.
        await holds(lambda: replicas(cluster, ns, "again-worker") == 0, seconds=4, what="0")
    finally:
        e2e.keda.start_operator()
    await wait_for(
        lambda: (replicas(cluster, ns, "again-worker") or 0) >= 1,
        timeout=scaling["pollingIntervalSeconds"] + MARGIN_SECONDS,
        what="scaling after KEDA came back",
    )
