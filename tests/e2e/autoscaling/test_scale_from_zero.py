"""Backlog scales workers 0 -> 1 through the real KEDA operator, and back to 0 after cooldown."""

from __future__ import annotations

import asyncio
import time

from temporalio.client import Client

from testbed.process import Process
from tests.e2e.autoscaling.pod_shim import PodShim
from tests.e2e.autoscaling.scaling import (
    apply_queue,
    fast_scaling,
    replicas,
    start_probes,
    wait_for,
    worker_spec,
)
from tests.e2e.conftest import EndToEnd

# Beyond KEDA's polling interval: Temporal's backlog statistics lag a workflow start by a
# moment, and the operator/kubectl round trips add a little more.
MARGIN_SECONDS = 8.0


async def test_backlog_scales_from_zero_and_back(
    e2e: EndToEnd,
    e2e_namespace: str,
    queuefleet_operator: Process,
    temporal_client: Client,
    task_queue: str,
) -> None:
    cluster, ns = e2e.cluster, e2e_namespace
    scaling = fast_scaling(minReplicas=0, maxReplicas=3)
    apply_queue(cluster, ns, "zero", task_queue=task_queue, scaling=scaling, worker=worker_spec())

    # The Deployment is created with the API server's default of 1; with no backlog KEDA
    # takes it to zero.
    await wait_for(lambda: replicas(cluster, ns, "zero-worker") == 0, timeout=45, what="0 replicas")

    polling = scaling["pollingIntervalSeconds"]
    started = time.monotonic()
    handles = await start_probes(temporal_client, task_queue, 6)
    await wait_for(
        lambda: (replicas(cluster, ns, "zero-worker") or 0) >= 1,
        timeout=polling + MARGIN_SECONDS,
        what="KEDA activating the Deployment (0 -> 1)",
    )
    activation = time.monotonic() - started

    with PodShim(cluster, ns, "zero-worker", e2e.artifacts / "e2e-workers" / ns) as shim:
        results = await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), 60)
        assert results == [task_queue] * len(handles)
        drained = time.monotonic()
        cooldown = scaling["cooldownSeconds"]
        await wait_for(
            lambda: replicas(cluster, ns, "zero-worker") == 0,
            timeout=cooldown + polling + MARGIN_SECONDS,
            what="scale back to 0 after the cooldown",
        )
        back_to_zero = time.monotonic() - drained
        await wait_for(lambda: shim.running == 0, timeout=15, what="workers stopped")
        assert shim.error is None
        assert shim.started_total >= 1

    print(f"activation {activation:.1f}s, back to zero {back_to_zero:.1f}s after drain")
    # Not before the cooldown: KEDA keeps the target up while it was recently active.
    assert back_to_zero >= cooldown - 1
