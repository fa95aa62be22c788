"""A node drain is never blocked by unready workers: the worker PDB's eviction policy.

Readiness follows Temporal's health, so while Temporal is down every worker is unready.
With the default policy (IfHealthyBudget) the eviction API then refuses every eviction
(429) and drains hang; with AlwaysAllow an unready pod is evicted at once.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from testbed.cluster import Cluster
from tests.cluster.operator.conftest import apply_queue, eventually, get, start_operator


def pods(kube: Cluster, namespace: str, instance: str) -> list[dict[str, Any]]:
    listing = json.loads(
        kube.kubectl(
            "-n", namespace, "get", "pods", "-l", f"app.kubernetes.io/instance={instance}",
            "-o", "json",
        ).stdout
    )  # fmt: skip
    return [p for p in listing["items"] if not p["metadata"].get("deletionTimestamp")]


def ready(pod: dict[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def make_unready(kube: Cluster, namespace: str, pod: dict[str, Any]) -> None:
    """What a failing readiness probe does (no kubelet runs probes here)."""
    conditions = [
        {**c, "status": "False"} if c["type"] in ("Ready", "ContainersReady") else c
        for c in pod["status"]["conditions"]
    ]
    kube.kubectl(
        "-n", namespace, "patch", "pod", pod["metadata"]["name"], "--subresource=status",
        "--type=merge", "-p", json.dumps({"status": {"conditions": conditions}}),
    )  # fmt: skip


def evict(kube: Cluster, namespace: str, name: str) -> tuple[bool, str]:
    eviction = {
        "apiVersion": "policy/v1",
        "kind": "Eviction",
        "metadata": {"name": name, "namespace": namespace},
    }
    result = kube.kubectl(
        "create", "--raw", f"/api/v1/namespaces/{namespace}/pods/{name}/eviction",
        "-f", "-", stdin=json.dumps(eviction), check=False,
    )  # fmt: skip
    return result.returncode == 0, result.stderr


def test_unready_workers_are_evicted_while_a_budget_would_block_them(
    queuefleet_crds: Cluster, namespace: str, artifacts: Path
) -> None:
    kube = queuefleet_crds
    operator = start_operator(kube, namespace, artifacts)
    try:
        apply_queue(kube, namespace, "drain", scaling={"minReplicas": 2, "maxReplicas": 4})
        pdb = eventually(lambda: get(kube, namespace, "pdb", "drain-worker"), what="PDB")
        assert pdb["spec"]["unhealthyPodEvictionPolicy"] == "AlwaysAllow"
        eventually(lambda: get(kube, namespace, "deployment", "drain-worker"), what="Deployment")
        kube.kubectl("-n", namespace, "scale", "deployment/drain-worker", "--replicas=2")
        running = eventually(
            lambda: (found := pods(kube, namespace, "drain")) and len(found) == 2
            and all(ready(p) for p in found) and found,
            what="two ready workers",
        )  # fmt: skip
        for pod in running:
            make_unready(kube, namespace, pod)
        # The disruption controller has counted them: no healthy pod, nothing "allowed".
        eventually(
            lambda: (
                (status := (get(kube, namespace, "pdb", "drain-worker") or {}).get("status", {}))
                and status.get("currentHealthy") == 0
                and status.get("disruptionsAllowed") == 0
                and status.get("observedGeneration") == pdb["metadata"]["generation"]
            ),
            what="the PDB counting 0 healthy workers",
        )
        evicted, error = evict(kube, namespace, running[0]["metadata"]["name"])
        assert evicted, error

        # The same pods under the default policy: the eviction API refuses (what blocked drains).
        kube.kubectl(
            "-n", namespace, "patch", "wfq", "drain", "--type=merge", "-p",
            json.dumps({"spec": {"paused": True}}),
        )  # fmt: skip
        kube.kubectl(
            "-n", namespace, "patch", "pdb", "drain-worker", "--type=merge", "-p",
            json.dumps({"spec": {"unhealthyPodEvictionPolicy": "IfHealthyBudget"}}),
        )  # fmt: skip
        remaining = eventually(
            lambda: (found := pods(kube, namespace, "drain")) and len(found) == 2 and found,
            what="the Deployment replacing the evicted worker",
        )
        for pod in remaining:
            if ready(pod):
                make_unready(kube, namespace, pod)
        eventually(
            lambda: (
                (status := (get(kube, namespace, "pdb", "drain-worker") or {}).get("status", {}))
                and status.get("currentHealthy") == 0
                and status.get("observedGeneration")
                == (get(kube, namespace, "pdb", "drain-worker") or {})["metadata"]["generation"]
            ),
            what="the PDB counting 0 healthy workers again",
        )
        unready = next(p for p in pods(kube, namespace, "drain") if not ready(p))
        evicted, error = evict(kube, namespace, unready["metadata"]["name"])
        assert not evicted
        assert "disruption budget" in error
    finally:
        operator.stop()
