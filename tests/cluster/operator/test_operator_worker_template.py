"""spec.worker.template and the operator's worker-pod settings against a real API server.

What the CRD accepts must become a Deployment the API server accepts too (server-side apply
validates the pod template for real), with the operator's own fields winning; and a queue
outside the operator's image or ServiceAccount policy is not applied, its status says why.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from testbed.cluster import Cluster
from testbed.operator import OperatorOptions, start_operator
from testbed.process import Process
from tests.cluster.operator.conftest import CLOSED_TEMPORAL, apply_queue, condition, eventually, get

DEFAULT_IMAGE = "registry.invalid/queuefleet-worker:1.0.0"
TEMPLATE = {
    "metadata": {
        "labels": {"team": "payments"},
        "annotations": {"vault.hashicorp.com/agent-inject": "true"},
    },
    "spec": {
        "imagePullSecrets": [{"name": "team-registry"}],
        "volumes": [{"name": "config", "configMap": {"name": "orders-config"}}],
        "initContainers": [
            {"name": "proxy", "image": "registry.invalid/envoy:1", "restartPolicy": "Always"}
        ],
        "containers": [
            {
                "name": "worker",
                "volumeMounts": [{"name": "config", "mountPath": "/etc/orders"}],
                "envFrom": [{"configMapRef": {"name": "orders-env"}}],
            },
            {"name": "logs", "image": "registry.invalid/fluent-bit:3"},
        ],
    },
}


@pytest.fixture
def policed_operator(
    queuefleet_crds: Cluster, namespace: str, artifacts: Path
) -> Iterator[Process]:
    """The operator with chart-style worker defaults and a policy for shared clusters."""
    options = OperatorOptions(
        namespace=namespace,
        temporal_address=CLOSED_TEMPORAL,
        worker_image=DEFAULT_IMAGE,
        extra_args=(
            "--worker-image-pull-secret=chart-registry",
            "--worker-pod-labels=cost-center=42",
            '--worker-pod-annotations={"example.com/scrape": "yes"}',
            "--allowed-image-prefix=registry.invalid/",
            "--allowed-service-account=orders-worker",
        ),
    )
    process, _ = start_operator(
        queuefleet_crds, options, log_path=artifacts / "operator" / f"{namespace}-policy.log"
    )
    yield process
    process.stop()


def test_template_reaches_the_worker_pods_under_the_operators_fields(
    policed_operator: Process, kube: Cluster, namespace: str
) -> None:
    apply_queue(kube, namespace, "orders", worker={"template": TEMPLATE})
    deployment = eventually(
        lambda: get(kube, namespace, "deployment", "orders-worker"), what="Deployment"
    )
    pod = deployment["spec"]["template"]
    metadata, spec = pod["metadata"], pod["spec"]
    assert metadata["labels"]["team"] == "payments"
    assert metadata["labels"]["cost-center"] == "42"
    assert metadata["labels"]["app.kubernetes.io/instance"] == "orders"
    assert metadata["annotations"]["vault.hashicorp.com/agent-inject"] == "true"
    assert metadata["annotations"]["example.com/scrape"] == "yes"
    assert [s["name"] for s in spec["imagePullSecrets"]] == ["chart-registry", "team-registry"]
    assert {v["name"] for v in spec["volumes"]} == {"tmp", "config"}
    worker, logs = spec["containers"]
    assert worker["name"] == "worker"
    assert worker["image"] == DEFAULT_IMAGE
    assert [m["mountPath"] for m in worker["volumeMounts"]] == ["/tmp", "/etc/orders"]
    assert worker["envFrom"] == [{"configMapRef": {"name": "orders-env"}}]
    assert worker["livenessProbe"]["httpGet"]["path"]
    # Template containers get what Pod Security "restricted" needs spelled out.
    for container in (logs, spec["initContainers"][0]):
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert spec["initContainers"][0]["restartPolicy"] == "Always"


def test_image_outside_the_allowed_prefixes_is_not_applied(
    policed_operator: Process, kube: Cluster, namespace: str
) -> None:
    sidecar = {"name": "logs", "image": "docker.io/someone/fluent-bit:3"}
    apply_queue(kube, namespace, "orders", worker={"template": {"spec": {"containers": [sidecar]}}})
    ready = eventually(
        lambda: (
            condition(kube, namespace, "orders", "Ready").get("reason") == "ImageNotAllowed"
            and condition(kube, namespace, "orders", "Ready")
        ),
        what="Ready=False ImageNotAllowed",
    )
    assert "spec.worker.template.spec.containers[logs].image" in ready["message"]
    assert get(kube, namespace, "deployment", "orders-worker") is None


def test_service_account_outside_the_allowed_names_is_not_applied(
    policed_operator: Process, kube: Cluster, namespace: str
) -> None:
    apply_queue(kube, namespace, "orders", worker={"serviceAccountName": "cluster-admin-ish"})
    ready = eventually(
        lambda: (
            condition(kube, namespace, "orders", "Ready").get("reason")
            == "ServiceAccountNotAllowed"
            and condition(kube, namespace, "orders", "Ready")
        ),
        what="Ready=False ServiceAccountNotAllowed",
    )
    assert ready["message"].startswith("spec.worker.serviceAccountName")
    # A warning event goes with the blocked state.
    eventually(
        lambda: any(
            event["reason"] == "ServiceAccountNotAllowed" and event["type"] == "Warning"
            for event in json.loads(
                kube.kubectl("-n", namespace, "get", "events", "-o", "json").stdout
            )["items"]
        ),
        what="a ServiceAccountNotAllowed warning event",
    )
