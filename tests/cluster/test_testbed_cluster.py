"""Proves the cluster fixture: scheduling through kwok, schema validation of KEDA objects."""

from __future__ import annotations

import json
import time

import yaml

from testbed.cluster import Cluster


def test_server_reports_the_pinned_version(kube: Cluster) -> None:
    version = json.loads(kube.kubectl("version", "-o", "json").stdout)
    assert version["serverVersion"]["gitVersion"].startswith("v1.")
    assert version["serverVersion"]["gitVersion"] != "v0.0.0-master+$Format:%H$"


def test_deployment_reaches_ready_replicas_on_fake_nodes(kube: Cluster, namespace: str) -> None:
    kube.kubectl(
        "-n",
        namespace,
        "create",
        "deployment",
        "web",
        "--image=registry.invalid/web:1",
        "--replicas=2",
    )
    kube.kubectl(
        "-n", namespace, "rollout", "status", "deployment/web", "--timeout=60s", timeout=90
    )
    deployment = json.loads(
        kube.kubectl("-n", namespace, "get", "deployment", "web", "-o", "json").stdout
    )
    assert deployment["status"]["readyReplicas"] == 2
    pods = json.loads(kube.kubectl("-n", namespace, "get", "pods", "-o", "json").stdout)["items"]
    assert {pod["status"]["phase"] for pod in pods} == {"Running"}
    assert all(pod["spec"]["nodeName"] for pod in pods)


def _scaled_object(namespace: str, trigger: dict[str, object]) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "keda.sh/v1alpha1",
            "kind": "ScaledObject",
            "metadata": {"name": "workers", "namespace": namespace},
            "spec": {"scaleTargetRef": {"name": "workers"}, "triggers": [trigger]},
        }
    )


def test_valid_scaled_object_is_accepted(kube: Cluster, namespace: str) -> None:
    trigger = {
        "type": "temporal",
        "metadata": {"endpoint": "temporal:7233", "namespace": "default", "taskQueue": "q"},
    }
    kube.kubectl("apply", "-f", "-", stdin=_scaled_object(namespace, trigger))


def test_scaled_object_with_invalid_trigger_is_rejected(kube: Cluster, namespace: str) -> None:
    cases = {
        "spec.triggers[0].type: Required value": {"metadata": {"taskQueue": "q"}},
        "spec.triggers[0].metadata.targetQueueSize: Invalid value": {
            "type": "temporal",
            "metadata": {"taskQueue": "q", "targetQueueSize": 5},  # metadata values are strings
        },
    }
    for expected, trigger in cases.items():
        result = kube.kubectl(
            "apply", "-f", "-", stdin=_scaled_object(namespace, trigger), check=False
        )
        assert result.returncode != 0, f"accepted: {trigger}"
        assert expected in result.stderr, result.stderr
    started = time.monotonic()
    listed = kube.kubectl("-n", namespace, "get", "scaledobjects", "-o", "name").stdout
    assert listed.strip() == "", (
        f"rejected objects must not exist ({time.monotonic() - started:.1f}s)"
    )
