"""The operator against a real control plane: children, status, drift, deletion, pause."""

from __future__ import annotations

import json
import time
from typing import Any

from testbed.cluster import Cluster
from testbed.process import Process
from tests.cluster.operator.conftest import (
    apply_queue,
    condition,
    eventually,
    get,
    keda_accepts,
)


def test_queue_gets_its_children_and_a_readable_status(
    operator: Process, kube: Cluster, namespace: str
) -> None:
    apply_queue(kube, namespace, "orders", scaling={"minReplicas": 2, "maxReplicas": 5})

    deployment = eventually(
        lambda: get(kube, namespace, "deployment", "orders-worker"), what="Deployment"
    )
    pod = deployment["spec"]["template"]["spec"]
    assert pod["containers"][0]["image"] == "registry.invalid/queuefleet-worker:1.0.0"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert deployment["metadata"]["ownerReferences"][0]["kind"] == "WorkflowQueue"
    scaled = eventually(
        lambda: get(kube, namespace, "scaledobject", "orders-worker"), what="ScaledObject"
    )
    trigger = scaled["spec"]["triggers"][0]
    assert trigger["type"] == "temporal"
    assert trigger["metadata"]["taskQueue"] == "orders-tq"
    assert (scaled["spec"]["minReplicaCount"], scaled["spec"]["maxReplicaCount"]) == (2, 5)
    assert eventually(lambda: get(kube, namespace, "pdb", "orders-worker"), what="PDB")

    # Without KEDA's controller nobody scales: the Deployment's default single pod runs.
    eventually(
        lambda: condition(kube, namespace, "orders", "Available").get("status") == "True",
        what="Available=True",
    )
    # Workers serve, but scaling is not in force until KEDA accepts the ScaledObject.
    eventually(
        lambda: condition(kube, namespace, "orders", "Ready").get("reason") == "AutoscalerNotReady",
        what="Ready=False while KEDA has not accepted the ScaledObject",
    )
    keda_accepts(kube, namespace, "orders-worker")
    eventually(
        lambda: condition(kube, namespace, "orders", "Ready").get("status") == "True",
        what="Ready=True once KEDA accepted the ScaledObject",
    )
    ready = eventually(
        lambda: condition(kube, namespace, "orders", "Ready") or None, what="Ready condition"
    )
    assert ready["status"] == "True"
    assert ready["observedGeneration"] == 1
    unreachable = condition(kube, namespace, "orders", "TemporalReachable")
    eventually(
        lambda: (
            condition(kube, namespace, "orders", "TemporalReachable").get("reason")
            == "TemporalUnreachable"
        ),
        what="TemporalReachable=False",
    )
    del unreachable
    table = kube.kubectl("-n", namespace, "get", "wfq", "orders").stdout.splitlines()
    assert table[0].split()[:9] == [
        "NAME",
        "TASK",
        "QUEUE",
        "READY",
        "BACKLOG",
        "MIN",
        "MAX",
        "STATUS",
        "AGE",
    ]
    assert table[1].split()[:5] == ["orders", "orders-tq", "1", "2", "5"]
    assert "Reconciled" in table[1]


def test_spec_change_rolls_the_deployment(operator: Process, kube: Cluster, namespace: str) -> None:
    apply_queue(kube, namespace, "roll")
    eventually(lambda: get(kube, namespace, "deployment", "roll-worker"), what="Deployment")
    apply_queue(kube, namespace, "roll", worker={"image": "registry.invalid/other:2"})

    def image() -> str:
        deployment = get(kube, namespace, "deployment", "roll-worker") or {}
        return str(deployment["spec"]["template"]["spec"]["containers"][0]["image"])

    eventually(lambda: image() == "registry.invalid/other:2", what="new image")
    eventually(
        lambda: condition(kube, namespace, "roll", "Ready").get("observedGeneration") == 2,
        what="status for generation 2",
    )


def test_deleted_and_edited_children_are_repaired(
    operator: Process, kube: Cluster, namespace: str
) -> None:
    apply_queue(kube, namespace, "drift")
    first = eventually(
        lambda: get(kube, namespace, "deployment", "drift-worker"), what="Deployment"
    )
    kube.kubectl("-n", namespace, "delete", "deployment", "drift-worker", "--wait=true")
    recreated = eventually(
        lambda: (
            (d := get(kube, namespace, "deployment", "drift-worker"))
            and d["metadata"]["uid"] != first["metadata"]["uid"]
            and d
        ),
        what="recreated Deployment",
        timeout=20,
    )
    assert recreated
    kube.kubectl("-n", namespace, "set", "image", "deployment/drift-worker", "worker=evil:1")

    def restored() -> bool:
        d = get(kube, namespace, "deployment", "drift-worker") or {}
        return d["spec"]["template"]["spec"]["containers"][0]["image"] != "evil:1"

    eventually(restored, what="restored image", timeout=20)
    kube.kubectl("-n", namespace, "delete", "scaledobject", "drift-worker", "--wait=true")
    eventually(
        lambda: get(kube, namespace, "scaledobject", "drift-worker"),
        what="ScaledObject",
        timeout=20,
    )


def test_deleting_the_queue_collects_its_children(
    operator: Process, kube: Cluster, namespace: str
) -> None:
    apply_queue(kube, namespace, "gone")
    eventually(lambda: get(kube, namespace, "scaledobject", "gone-worker"), what="ScaledObject")
    keda_accepts(kube, namespace, "gone-worker")
    eventually(
        lambda: condition(kube, namespace, "gone", "Ready").get("status") == "True", what="Ready"
    )
    # Owner references do the collecting: the operator holds no finalizer on the queue.
    queue = get(kube, namespace, "workflowqueue", "gone") or {}
    assert not queue["metadata"].get("finalizers"), queue["metadata"]
    kube.kubectl("-n", namespace, "delete", "wfq", "gone", "--wait=true", timeout=30)
    for kind in ("deployment", "scaledobject", "pdb"):
        eventually(
            lambda kind=kind: get(kube, namespace, kind, "gone-worker") is None, what=f"{kind} gone"
        )


def test_finalizer_of_earlier_versions_is_released(
    operator: Process, kube: Cluster, namespace: str
) -> None:
    # Earlier versions ran a kopf timer per queue, which made kopf add this finalizer; the
    # operator must drop it so deleting an upgraded queue does not hang.
    apply_queue(kube, namespace, "legacy")
    eventually(lambda: get(kube, namespace, "deployment", "legacy-worker"), what="Deployment")
    kube.kubectl(
        "-n", namespace, "patch", "wfq", "legacy", "--type=merge",
        "-p", json.dumps({"metadata": {"finalizers": ["queuefleet.dev/operator"]}}),
    )  # fmt: skip
    eventually(
        lambda: (
            not (get(kube, namespace, "workflowqueue", "legacy") or {})
            .get("metadata", {})
            .get("finalizers")
        ),
        what="finalizer released",
    )


def test_paused_queue_is_left_alone(operator: Process, kube: Cluster, namespace: str) -> None:
    apply_queue(kube, namespace, "hold")
    eventually(lambda: get(kube, namespace, "deployment", "hold-worker"), what="Deployment")
    apply_queue(kube, namespace, "hold", paused=True)
    eventually(
        lambda: condition(kube, namespace, "hold", "Ready").get("reason") == "Paused", what="Paused"
    )
    kube.kubectl("-n", namespace, "delete", "deployment", "hold-worker", "--wait=true")
    time.sleep(4)  # longer than the operator's sync interval (3 s): give it a chance to act
    assert get(kube, namespace, "deployment", "hold-worker") is None
    apply_queue(kube, namespace, "hold", paused=False)
    eventually(lambda: get(kube, namespace, "deployment", "hold-worker"), what="Deployment back")


def test_restarted_operator_converges_without_duplicates(
    operator: Process, kube: Cluster, namespace: str, artifacts: Any
) -> None:
    from tests.cluster.operator.conftest import start_operator

    for index in range(5):
        apply_queue(kube, namespace, f"q{index}")
    operator.stop()  # mid-way: some queues may not be reconciled yet
    restarted = start_operator(kube, namespace, artifacts)
    try:
        for index in range(5):
            name = f"q{index}-worker"
            eventually(lambda name=name: get(kube, namespace, "scaledobject", name), what=name)
            keda_accepts(kube, namespace, name)
        for index in range(5):
            eventually(
                lambda index=index: (
                    condition(kube, namespace, f"q{index}", "Ready").get("status") == "True"
                ),
                what=f"q{index} Ready",
            )
        names = kube.kubectl("-n", namespace, "get", "deployments", "-o", "name").stdout.split()
        assert sorted(names) == [f"deployment.apps/q{i}-worker" for i in range(5)]
    finally:
        restarted.stop()
