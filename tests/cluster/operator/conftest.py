"""Cluster fixtures for the operator: our CRDs installed, and the operator running."""

from __future__ import annotations

import dataclasses
import json
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from prometheus_client.parser import text_string_to_metric_families

from testbed.cluster import Cluster, install_crds
from testbed.operator import OperatorOptions
from testbed.operator import start_operator as testbed_start_operator
from testbed.process import Process

REPO = Path(__file__).resolve().parents[3]
CRD_DIR = REPO / "k8s" / "crd"


@pytest.fixture(scope="session")
def queuefleet_crds(kube: Cluster) -> Cluster:
    install_crds(kube, CRD_DIR)
    return kube


@pytest.fixture
def operator(queuefleet_crds: Cluster, namespace: str, artifacts: Path) -> Iterator[Process]:
    """The operator as its CLI runs it, watching only this test's namespace."""
    process = start_operator(queuefleet_crds, namespace, artifacts)
    yield process
    process.stop()


# Nothing listens here: TemporalReachable False must not block anything.
CLOSED_TEMPORAL = "127.0.0.1:9"


def start_operator(
    kube: Cluster,
    namespace: str,
    artifacts: Path,
    *,
    temporal_address: str = CLOSED_TEMPORAL,
    metrics_port: int | None = None,
    peering: str | None = None,
    priority: int | None = None,
    log_name: str | None = None,
    sync_interval: float | None = None,
) -> Process:
    """Start `queuefleet operator` for one namespace and wait for its liveness endpoint."""
    options = OperatorOptions(
        namespace=namespace,
        temporal_address=temporal_address,
        metrics_port=metrics_port,
        peering=peering,
        priority=priority,
    )
    if sync_interval is not None:
        options = dataclasses.replace(options, sync_interval=sync_interval)
    process, _ = testbed_start_operator(
        kube, options, log_path=artifacts / "operator" / f"{log_name or namespace}.log"
    )
    return process


def metric(port: int, name: str, **labels: str) -> float:
    """The sum of an operator metric's samples matching `labels` (0 when there are none)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


def keda_accepts(kube: Cluster, namespace: str, name: str, ready: bool = True) -> None:
    """Write the Ready condition on a ScaledObject, as KEDA's controller does once it has
    accepted it (the control plane here runs KEDA's CRDs, not its controller)."""
    condition = {
        "type": "Ready",
        "status": "True" if ready else "False",
        "reason": "ScaledObjectReady" if ready else "ScaledObjectCheckFailed",
        "message": "ScaledObject is defined correctly and is ready for scaling",
    }
    kube.kubectl(
        "-n", namespace, "patch", "scaledobject", name, "--subresource=status", "--type=merge",
        "-p", json.dumps({"status": {"conditions": [condition]}}),
    )  # fmt: skip


def events(kube: Cluster, namespace: str, reason: str) -> list[dict[str, Any]]:
    listing = json.loads(
        kube.kubectl(
            "-n", namespace, "get", "events", "--field-selector", f"reason={reason}", "-o", "json"
        ).stdout
    )
    found: list[dict[str, Any]] = listing.get("items") or []
    return found


def get(kube: Cluster, namespace: str, kind: str, name: str) -> dict[str, Any] | None:
    result = kube.kubectl("-n", namespace, "get", kind, name, "-o", "json", check=False)
    if result.returncode != 0:
        return None
    found: dict[str, Any] = json.loads(result.stdout)
    return found


T = TypeVar("T")
TIMEOUT = 60.0


def eventually(probe: Callable[[], T | None], *, what: str, timeout: float = TIMEOUT) -> T:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.3)
    raise AssertionError(f"no {what} within {timeout:.0f}s (last: {last!r})")


def apply_queue(kube: Cluster, namespace: str, name: str, **spec: Any) -> None:
    body = {
        "apiVersion": "queuefleet.dev/v1alpha1",
        "kind": "WorkflowQueue",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"taskQueue": f"{name}-tq", **spec},
    }
    kube.kubectl(
        "apply", "--server-side", "--field-manager=test", "-f", "-", stdin=json.dumps(body)
    )


def condition(kube: Cluster, namespace: str, name: str, kind: str) -> dict[str, Any]:
    queue = get(kube, namespace, "workflowqueue", name) or {}
    for c in (queue.get("status") or {}).get("conditions") or []:
        if c["type"] == kind:
            return dict(c)
    return {}
