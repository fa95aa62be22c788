"""Autoscaling and restarts are not drift; a hand edit is. Counted by the operator's metrics.

On the kwok control plane: `kubectl scale` (what the HPA does through the scale
subresource) and `kubectl rollout restart` each change the Deployment's generation, but no
field the operator sets; they must cause no apply and no DriftRepaired event. A hand-edited
image must be restored within one sync interval.
"""

from __future__ import annotations

import time
from pathlib import Path

from testbed.cluster import Cluster
from testbed.operator import OperatorOptions
from testbed.process import free_port
from tests.cluster.operator.conftest import (
    apply_queue,
    condition,
    events,
    eventually,
    get,
    keda_accepts,
    metric,
    start_operator,
)

SYNC_INTERVAL = OperatorOptions(namespace="", temporal_address="").sync_interval
DEBOUNCE = 1.0  # the operator's default child-event debounce


def deployment_generation(kube: Cluster, namespace: str, name: str) -> int:
    return int((get(kube, namespace, "deployment", name) or {})["metadata"]["generation"])


def test_scale_and_restart_are_not_drift_but_an_image_edit_is(
    queuefleet_crds: Cluster, namespace: str, artifacts: Path
) -> None:
    kube = queuefleet_crds
    port = free_port()
    operator = start_operator(kube, namespace, artifacts, metrics_port=port)
    try:
        apply_queue(kube, namespace, "calm", scaling={"minReplicas": 1, "maxReplicas": 5})
        eventually(lambda: get(kube, namespace, "scaledobject", "calm-worker"), what="SO")
        keda_accepts(kube, namespace, "calm-worker")
        eventually(
            lambda: condition(kube, namespace, "calm", "Ready").get("status") == "True",
            what="Ready",
        )
        applies = metric(port, "queuefleet_operator_child_applies_total")
        child_passes = metric(port, "queuefleet_operator_reconciles_total", trigger="child")

        for change in (
            ("scale", "deployment/calm-worker", "--replicas=3"),
            ("rollout", "restart", "deployment/calm-worker"),
            ("scale", "deployment/calm-worker", "--replicas=1"),
        ):
            before = deployment_generation(kube, namespace, "calm-worker")
            kube.kubectl("-n", namespace, *change)
            assert deployment_generation(kube, namespace, "calm-worker") > before
            # The change reached the operator: a child-triggered pass ran after it.
            eventually(
                lambda passes=child_passes: (
                    metric(port, "queuefleet_operator_reconciles_total", trigger="child") > passes
                ),
                what=f"a pass after {' '.join(change)}",
            )
            child_passes = metric(port, "queuefleet_operator_reconciles_total", trigger="child")

        assert metric(port, "queuefleet_operator_child_applies_total") == applies
        assert metric(port, "queuefleet_operator_drift_repairs_total") == 0
        assert events(kube, namespace, "DriftRepaired") == []
        assert (get(kube, namespace, "deployment", "calm-worker") or {})["spec"]["replicas"] == 1

        kube.kubectl("-n", namespace, "set", "image", "deployment/calm-worker", "worker=evil:1")
        edited_at = time.monotonic()

        def image() -> str:
            deployment = get(kube, namespace, "deployment", "calm-worker") or {}
            return str(deployment["spec"]["template"]["spec"]["containers"][0]["image"])

        eventually(
            lambda: image() == "registry.invalid/queuefleet-worker:1.0.0",
            what="the image restored",
            timeout=SYNC_INTERVAL + DEBOUNCE + 2,
        )
        restored_in = time.monotonic() - edited_at
        assert restored_in <= SYNC_INTERVAL, f"restored after {restored_in:.1f}s"
        assert metric(port, "queuefleet_operator_drift_repairs_total", kind="Deployment") == 1
        eventually(lambda: events(kube, namespace, "DriftRepaired"), what="DriftRepaired event")
    finally:
        operator.stop()
