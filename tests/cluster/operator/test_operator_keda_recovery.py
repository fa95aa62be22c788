"""KEDA's CRDs missing → a fixed worker count and a clear AutoscalerReady; KEDA arriving → recovery.

Needs a cluster of its own: removing KEDA's CRDs from the shared session cluster would pull
them out from under every other test.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from testbed.cluster import (
    Cluster,
    install_crds,
    keda_crds_dir,
    start_kwok_cluster,
    stop_kwok_cluster,
)
from testbed.process import TestbedError
from tests.cluster.operator.conftest import (
    CRD_DIR,
    apply_queue,
    condition,
    eventually,
    get,
    keda_accepts,
    start_operator,
)
from tests.conftest import component_missing

FIELD_MANAGER = "queuefleet-operator"


@pytest.fixture(scope="module")
def cluster_without_keda(artifacts: Path) -> Iterator[Cluster]:
    """A private kwok cluster with our CRDs and none of KEDA's."""
    if os.environ.get("QUEUEFLEET_KUBECONFIG"):
        # Not a missing component but a choice; still, under CI nothing may skip silently.
        component_missing(
            "QUEUEFLEET_KUBECONFIG names an external cluster; this test needs a private kwok "
            "cluster it can install and remove KEDA's CRDs in"
        )
    workdir = artifacts / "kwok-without-keda"
    try:
        keda_crds_dir()  # fail early, before a cluster is started for nothing
        cluster = start_kwok_cluster(workdir)
    except TestbedError as error:
        component_missing(str(error))
        raise
    try:
        install_crds(cluster, CRD_DIR)
        yield cluster
    finally:
        stop_kwok_cluster(workdir, cluster)


def _operator_owns_replicas(kube: Cluster, namespace: str, name: str) -> bool:
    """Whether the operator's field manager owns the Deployment's spec.replicas."""
    found = kube.kubectl(
        "-n", namespace, "get", "deployment", name, "-o", "json", "--show-managed-fields"
    )
    for entry in json.loads(found.stdout)["metadata"].get("managedFields") or []:
        if entry.get("manager") == FIELD_MANAGER and entry.get("operation") == "Apply":
            return "f:replicas" in (entry.get("fieldsV1") or {}).get("f:spec", {})
    return False


def test_missing_keda_falls_back_then_recovers_when_installed(
    cluster_without_keda: Cluster, artifacts: Path
) -> None:
    kube = cluster_without_keda
    namespace = f"t-{uuid.uuid4().hex[:10]}"
    kube.kubectl("create", "namespace", namespace)
    operator = start_operator(kube, namespace, artifacts)
    try:
        # minReplicas 0 still gets one worker (nobody would scale it up); 2 gets two.
        apply_queue(kube, namespace, "idle", scaling={"minReplicas": 0, "maxReplicas": 3})
        apply_queue(kube, namespace, "busy", scaling={"minReplicas": 2, "maxReplicas": 4})
        for name, replicas in (("idle", 1), ("busy", 2)):
            eventually(
                lambda name=name, replicas=replicas: (
                    (get(kube, namespace, "deployment", f"{name}-worker") or {})
                    .get("status", {})
                    .get("readyReplicas")
                    == replicas
                ),
                what=f"{name}: {replicas} fixed worker(s) running",
            )
            autoscaler = eventually(
                lambda name=name: (
                    (c := condition(kube, namespace, name, "AutoscalerReady"))
                    and c.get("status") == "False"
                    and c
                ),
                what=f"{name}: AutoscalerReady=False",
            )
            assert autoscaler["reason"] == "KedaNotInstalled"
            assert "scaledobjects.keda.sh is not installed" in autoscaler["message"]
            assert f"fixed {replicas} worker(s)" in autoscaler["message"]
            # The fixed fleet is the documented fallback: it serves, so the queue is Ready
            # (the operator sees the workers turn ready a debounce after the API does).
            eventually(
                lambda name=name: (
                    (c := condition(kube, namespace, name, "Ready"))
                    and (c.get("status"), c.get("reason")) == ("True", "FixedReplicas")
                ),
                what=f"{name}: Ready=True for FixedReplicas",
            )
            deployment = get(kube, namespace, "deployment", f"{name}-worker") or {}
            assert deployment["spec"]["replicas"] == replicas
            assert _operator_owns_replicas(kube, namespace, f"{name}-worker")

        install_crds(kube, keda_crds_dir())

        # Nothing is re-applied by hand: the operator notices KEDA and converges.
        for name, (low, high), replicas in (("idle", (0, 3), 1), ("busy", (2, 4), 2)):
            scaled = eventually(
                lambda name=name: get(kube, namespace, "scaledobject", f"{name}-worker"),
                what=f"{name}: ScaledObject",
            )
            assert scaled["spec"]["scaleTargetRef"]["name"] == f"{name}-worker"
            assert (scaled["spec"]["minReplicaCount"], scaled["spec"]["maxReplicaCount"]) == (
                low,
                high,
            )
            # KEDA's controller does not run here, so "pending" is the honest answer.
            autoscaler = eventually(
                lambda name=name: (
                    (c := condition(kube, namespace, name, "AutoscalerReady"))
                    and c.get("status") != "False"
                    and c
                ),
                what=f"{name}: AutoscalerReady no longer False",
            )
            assert autoscaler["reason"] == "ScaledObjectPending"
            # Scaling is not in force until KEDA accepts the ScaledObject.
            eventually(
                lambda name=name: (
                    condition(kube, namespace, name, "Ready").get("reason") == "AutoscalerNotReady"
                ),
                what=f"{name}: Ready=False until KEDA accepts",
            )
            keda_accepts(kube, namespace, f"{name}-worker")
            eventually(
                lambda name=name: condition(kube, namespace, name, "Ready").get("status") == "True",
                what=f"{name}: Ready=True",
            )
            # The replica count is now the autoscaler's to set, not the operator's.
            eventually(
                lambda name=name: not _operator_owns_replicas(kube, namespace, f"{name}-worker"),
                what=f"{name}: spec.replicas released by the operator",
            )
            # ... and handing it over kept the workers that were running (the API server
            # would have reset a dropped field to 1).
            deployment = get(kube, namespace, "deployment", f"{name}-worker") or {}
            assert deployment["spec"]["replicas"] == replicas
        queue = get(kube, namespace, "workflowqueue", "busy") or {}
        assert queue["status"]["children"]["scaledObject"] == "busy-worker"
    finally:
        operator.stop()
        kube.kubectl("delete", "namespace", namespace, "--wait=false", "--ignore-not-found")
