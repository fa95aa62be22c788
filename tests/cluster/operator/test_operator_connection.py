"""TemporalConnections against a real API server: queues get credentials only through one.

The operator runs as its CLI does; the API server is kwok's. Nothing listens at the
connection's address, which blocks nothing (TemporalReachable is only reported).
"""

from __future__ import annotations

import base64
import json
from typing import Any

from testbed.cluster import Cluster
from testbed.process import Process
from tests.cluster.operator.conftest import (
    CLOSED_TEMPORAL,
    apply_queue,
    condition,
    events,
    eventually,
    get,
)

CLOUD = {
    "namespace": "acme",
    "tls": {"serverName": "localhost"},
    "apiKeySecret": {"name": "cloud-key"},
}


def apply(kube: Cluster, body: dict[str, Any]) -> None:
    kube.kubectl(
        "apply", "--server-side", "--field-manager=test", "-f", "-", stdin=json.dumps(body)
    )


def apply_connection(kube: Cluster, namespace: str, name: str, spec: dict[str, Any]) -> None:
    apply(
        kube,
        {
            "apiVersion": "queuefleet.dev/v1alpha1",
            "kind": "TemporalConnection",
            "metadata": {"name": name, "namespace": namespace},
            "spec": spec,
        },
    )


def apply_api_key(kube: Cluster, namespace: str, name: str) -> None:
    apply(
        kube,
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name, "namespace": namespace},
            "data": {"api-key": base64.b64encode(b"not-a-real-key").decode()},
        },
    )


def worker_env(kube: Cluster, namespace: str, name: str) -> dict[str, Any] | None:
    deployment = get(kube, namespace, "deployment", f"{name}-worker")
    if deployment is None:
        return None
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def ready_reason(kube: Cluster, namespace: str, name: str) -> str:
    return str(condition(kube, namespace, name, "Ready").get("reason", ""))


def test_a_queue_on_a_connection_waits_for_it_then_follows_it(
    operator: Process, queuefleet_crds: Cluster, namespace: str
) -> None:
    kube = queuefleet_crds
    apply_queue(kube, namespace, "orders", temporal={"connectionRef": {"name": "cloud"}})
    eventually(
        lambda: ready_reason(kube, namespace, "orders") == "ConnectionNotFound",
        what="Ready reason ConnectionNotFound",
    )
    assert get(kube, namespace, "deployment", "orders-worker") is None

    apply_api_key(kube, namespace, "cloud-key")
    apply_connection(
        kube,
        namespace,
        "cloud",
        {**CLOUD, "address": CLOSED_TEMPORAL},
    )
    env = eventually(lambda: worker_env(kube, namespace, "orders"), what="worker Deployment")
    assert env["TEMPORAL_ADDRESS"] == CLOSED_TEMPORAL
    assert env["TEMPORAL_NAMESPACE"] == "acme"
    assert env["TEMPORAL_API_KEY"] == {"secretKeyRef": {"name": "cloud-key", "key": "api-key"}}

    # An admin moving the connection moves every queue on it, with no change to the queue.
    apply_connection(
        kube,
        namespace,
        "cloud",
        {**CLOUD, "address": "127.0.0.1:10"},
    )
    eventually(
        lambda: (
            (worker_env(kube, namespace, "orders") or {}).get("TEMPORAL_ADDRESS") == "127.0.0.1:10"
        ),
        what="the worker on the connection's new address",
    )


def test_credentials_named_by_the_queue_itself_are_refused(
    operator: Process, queuefleet_crds: Cluster, namespace: str
) -> None:
    kube = queuefleet_crds
    apply_api_key(kube, namespace, "someone-elses-key")
    apply_queue(
        kube,
        namespace,
        "grabby",
        temporal={"address": "127.0.0.1:10", "apiKeySecret": {"name": "someone-elses-key"}},
    )
    eventually(
        lambda: ready_reason(kube, namespace, "grabby") == "InlineCredentialsRefused",
        what="Ready reason InlineCredentialsRefused",
    )
    ready = condition(kube, namespace, "grabby", "Ready")
    assert ready["message"].startswith("spec.temporal.apiKeySecret: ")
    assert "spec.temporal.connectionRef.name" in ready["message"]
    assert get(kube, namespace, "deployment", "grabby-worker") is None
    assert get(kube, namespace, "triggerauthentication", "grabby-temporal") is None
    eventually(
        lambda: events(kube, namespace, "InlineCredentialsRefused"),
        what="a warning event",
    )
    # The backlog was never read: nothing dialled the queue's address for it.
    assert condition(kube, namespace, "grabby", "TemporalReachable").get("reason") in (
        None,
        "NotCheckedYet",
    )
