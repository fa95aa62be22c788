"""Helpers the autoscaling tests share: queues, replica counts, workflows, polling."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from temporalio.client import Client, WorkflowHandle

from testbed.cluster import Cluster
from tests.e2e.autoscaling.registrar import WORKFLOW, ProbeInput

T = TypeVar("T")
REGISTRAR = "tests.e2e.autoscaling.registrar:registrar"


async def wait_for(
    probe: Callable[[], T], *, timeout: float, what: str, interval: float = 0.25
) -> float:
    """Poll until `probe()` is truthy; returns the seconds it took."""
    started = time.monotonic()
    deadline = started + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return time.monotonic() - started
        await asyncio.sleep(interval)
    raise AssertionError(f"no {what} within {timeout:.0f}s (last: {last!r})")


async def holds(
    probe: Callable[[], T], *, seconds: float, what: str, interval: float = 0.5
) -> None:
    """Assert `probe()` stays truthy for `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = probe()
        assert value, f"{what} stopped holding (got {value!r})"
        await asyncio.sleep(interval)


def apply_queue(
    cluster: Cluster, namespace: str, name: str, *, task_queue: str, **spec: Any
) -> None:
    body = {
        "apiVersion": "queuefleet.dev/v1alpha1",
        "kind": "WorkflowQueue",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"taskQueue": task_queue, **spec},
    }
    cluster.kubectl(
        "apply", "--server-side", "--field-manager=e2e", "-f", "-", stdin=json.dumps(body)
    )


def fast_scaling(**overrides: Any) -> dict[str, Any]:
    """Scaling settings that keep a test short: 1 s polling, 5 s cooldown, no stabilization."""
    return {
        "minReplicas": 0,
        "maxReplicas": 3,
        "targetBacklogPerReplica": 5,
        "pollingIntervalSeconds": 1,
        "cooldownSeconds": 5,
        "scaleDownStabilizationSeconds": 0,
        **overrides,
    }


def worker_spec(**overrides: Any) -> dict[str, Any]:
    """Workers that run the test registrar and drain quickly when scaled down."""
    return {"registrars": [REGISTRAR], "gracefulShutdownSeconds": 5, **overrides}


def get(cluster: Cluster, namespace: str, kind: str, name: str) -> dict[str, Any] | None:
    result = cluster.kubectl("-n", namespace, "get", kind, name, "-o", "json", check=False)
    if result.returncode != 0:
        return None
    found: dict[str, Any] = json.loads(result.stdout)
    return found


def replicas(cluster: Cluster, namespace: str, deployment: str) -> int | None:
    """The Deployment's desired replicas (what KEDA and the HPA set), None while it is absent."""
    found = get(cluster, namespace, "deployment", deployment)
    if found is None:
        return None
    return int(found["spec"].get("replicas", 1))


def condition(found: dict[str, Any] | None, kind: str) -> dict[str, Any]:
    for item in ((found or {}).get("status") or {}).get("conditions") or []:
        if item.get("type") == kind:
            return dict(item)
    return {}


async def start_probes(
    client: Client, task_queue: str, count: int, *, work_seconds: float = 0.2
) -> list[WorkflowHandle[Any, Any]]:
    prefix = uuid.uuid4().hex[:8]
    return [
        await client.start_workflow(
            WORKFLOW,
            ProbeInput(work_seconds=work_seconds),
            id=f"probe-{prefix}-{index}",
            task_queue=task_queue,
        )
        for index in range(count)
    ]
