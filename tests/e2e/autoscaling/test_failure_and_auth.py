"""Failure and auth paths against the real KEDA: fallback replicas, TriggerAuthentication.

Credentials reach a queue only through a TemporalConnection (spec.temporal.connectionRef),
as an admin would define it; the queues name the connection, never a Secret.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from temporalio.client import Client

from testbed.cluster import Cluster
from testbed.keda import write_certificates
from testbed.process import Process
from tests.e2e.autoscaling.scaling import (
    apply_queue,
    condition,
    fast_scaling,
    get,
    holds,
    replicas,
    start_probes,
    wait_for,
    worker_spec,
)
from tests.e2e.autoscaling.tcp_proxy import ServerTLS, TcpProxy
from tests.e2e.autoscaling.test_scale_from_zero import MARGIN_SECONDS
from tests.e2e.conftest import EndToEnd


def autoscaler_noticed_outage(cluster: Cluster, namespace: str, scaled_object: str) -> bool:
    """KEDA marked the ScaledObject not Ready, or the HPA cannot get its metric. Which comes
    first depends on KEDA's path: a scaler it cannot rebuild (the dial fails) often leaves
    Ready untouched for a while, though the metric request already fails."""
    if not scaled_object_ready(cluster, namespace, scaled_object):
        return True
    hpa = get(cluster, namespace, "horizontalpodautoscaler", f"keda-hpa-{scaled_object}")
    return condition(hpa, "ScalingActive").get("status") == "False"


def upstream(e2e: EndToEnd) -> tuple[str, int]:
    host, _, port = e2e.temporal.address.rpartition(":")
    return host, int(port)


def apply_secret(cluster: Cluster, namespace: str, name: str, data: dict[str, bytes]) -> None:
    body = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "data": {key: base64.b64encode(value).decode() for key, value in data.items()},
    }
    cluster.kubectl("apply", "-f", "-", stdin=json.dumps(body))


def apply_connection(
    cluster: Cluster, namespace: str, name: str, spec: dict[str, Any]
) -> dict[str, Any]:
    """A TemporalConnection; the `spec.temporal` of a queue that uses it."""
    body = {
        "apiVersion": "queuefleet.dev/v1alpha1",
        "kind": "TemporalConnection",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }
    cluster.kubectl("apply", "-f", "-", stdin=json.dumps(body))
    return {"connectionRef": {"name": name}}


def scaled_object_ready(cluster: Cluster, namespace: str, name: str) -> bool:
    found = get(cluster, namespace, "scaledobject", name)
    return condition(found, "Ready").get("status") == "True"


async def test_unreachable_temporal_holds_replicas_then_scaling_recovers(
    e2e: EndToEnd, e2e_namespace: str, queuefleet_operator: Process, temporal_client: Client
) -> None:
    """With Temporal unreachable the replica count holds; scaling resumes when it is back.

    The spec asks for fallback replicas (3). KEDA v2.21 does not apply them here: after the
    first failed poll it rebuilds the scaler, the Temporal scaler's constructor dials the
    server, and a scaler that cannot be built never reaches the fallback path
    (kedacore/keda#8056). What it does do is hold: the HPA gets no metric and keeps the
    current count, and KEDA does not scale to zero on errors. The test pins that down, so a
    KEDA upgrade that changes either behaviour shows up here.
    """
    cluster, ns = e2e.cluster, e2e_namespace
    task_queue = f"fall-{ns}"
    proxy = TcpProxy(upstream(e2e))
    proxy.up()
    try:
        scaling = fast_scaling(
            minReplicas=0, maxReplicas=5, fallback={"replicas": 3, "failureThreshold": 2}
        )
        apply_queue(
            cluster,
            ns,
            "fall",
            task_queue=task_queue,
            temporal={"address": proxy.address},
            scaling=scaling,
            worker=worker_spec(),
        )
        await wait_for(
            lambda: scaled_object_ready(cluster, ns, "fall-worker"),
            timeout=30,
            what="ScaledObject Ready",
        )
        await start_probes(temporal_client, task_queue, 7)  # ceil(7 / 5) = 2 replicas
        await wait_for(
            lambda: replicas(cluster, ns, "fall-worker") == 2, timeout=30, what="2 replicas"
        )

        proxy.down()
        await wait_for(
            lambda: autoscaler_noticed_outage(cluster, ns, "fall-worker"),
            # A poll that fails waits out KEDA's dial and HTTP timeouts (3 s each) and the
            # status write after it; on a loaded 2-core machine that took longer than 15 s.
            timeout=45,
            what="KEDA or the HPA noticing Temporal is unreachable",
        )
        # Many polling intervals and HPA syncs: neither scaled to zero nor moved.
        await holds(lambda: replicas(cluster, ns, "fall-worker") == 2, seconds=8, what="2")

        proxy.up()
        await wait_for(
            lambda: scaled_object_ready(cluster, ns, "fall-worker"),
            timeout=30,
            what="ScaledObject Ready again",
        )
        await start_probes(temporal_client, task_queue, 5)  # ceil(12 / 5) = 3
        await wait_for(
            lambda: replicas(cluster, ns, "fall-worker") == 3,
            timeout=30,
            what="scaling on the backlog again once Temporal is reachable",
        )
    finally:
        proxy.down()


async def test_api_key_trigger_authentication_is_accepted(
    e2e: EndToEnd,
    e2e_namespace: str,
    queuefleet_operator: Process,
    temporal_client: Client,
    task_queue: str,
) -> None:
    """API key over TLS, as Temporal Cloud takes it.

    Plaintext with an API key (the operator's `enableTLS: "false"`) cannot work with KEDA
    v2.21: it leaves the SDK's TLS config empty without setting TLSDisabled, and the Go SDK
    turns TLS on whenever API-key credentials are present. So the key travels through a TLS
    proxy whose certificate KEDA trusts through its --ca-dir.
    """
    cluster, ns = e2e.cluster, e2e_namespace
    certs = e2e.keda.cert_dir
    proxy = TcpProxy(upstream(e2e), tls=ServerTLS(cert=certs / "tls.crt", key=certs / "tls.key"))
    proxy.up()
    try:
        apply_secret(cluster, ns, "temporal-api-key", {"api-key": b"e2e-not-a-real-key"})
        temporal = apply_connection(
            cluster,
            ns,
            "cloud",
            {
                "address": proxy.address,
                "tls": {"serverName": "localhost"},
                "apiKeySecret": {"name": "temporal-api-key"},
            },
        )
        scaling = fast_scaling(minReplicas=0)
        apply_queue(
            cluster,
            ns,
            "keyed",
            task_queue=task_queue,
            temporal=temporal,
            scaling=scaling,
            worker=worker_spec(),
        )
        auth = await _trigger_authentication(cluster, ns, "keyed-temporal")
        assert auth["spec"] == {
            "secretTargetRef": [
                {"parameter": "apiKey", "name": "temporal-api-key", "key": "api-key"}
            ]
        }
        await wait_for(
            lambda: scaled_object_ready(cluster, ns, "keyed-worker"),
            timeout=30,
            what="ScaledObject Ready with the API-key TriggerAuthentication",
        )
        await wait_for(lambda: replicas(cluster, ns, "keyed-worker") == 0, timeout=45, what="0")
        await start_probes(temporal_client, task_queue, 2)
        await wait_for(
            lambda: (replicas(cluster, ns, "keyed-worker") or 0) >= 1,
            timeout=scaling["pollingIntervalSeconds"] + MARGIN_SECONDS,
            what="activation through the API-key scaler",
        )
    finally:
        proxy.down()


async def test_client_certificate_trigger_authentication_is_accepted(
    e2e: EndToEnd,
    e2e_namespace: str,
    queuefleet_operator: Process,
    temporal_client: Client,
    task_queue: str,
    tmp_path: Path,
) -> None:
    cluster, ns = e2e.cluster, e2e_namespace
    certs = write_certificates(tmp_path / "temporal-tls")
    proxy = TcpProxy(
        upstream(e2e),
        tls=ServerTLS(cert=certs / "tls.crt", key=certs / "tls.key", client_ca=certs / "ca.crt"),
    )
    proxy.up()
    try:
        apply_secret(
            cluster,
            ns,
            "temporal-client",
            {name: (certs / name).read_bytes() for name in ("tls.crt", "tls.key", "ca.crt")},
        )
        temporal = apply_connection(
            cluster,
            ns,
            "mtls",
            {
                "address": proxy.address,
                "tls": {
                    "secretName": "temporal-client",
                    "caKey": "ca.crt",
                    "serverName": "localhost",
                },
            },
        )
        scaling = fast_scaling(minReplicas=0)
        apply_queue(
            cluster,
            ns,
            "mtls",
            task_queue=task_queue,
            temporal=temporal,
            scaling=scaling,
            worker=worker_spec(),
        )
        await _trigger_authentication(cluster, ns, "mtls-temporal")
        await wait_for(
            lambda: scaled_object_ready(cluster, ns, "mtls-worker"),
            timeout=30,
            what="ScaledObject Ready over mutual TLS",
        )
        await wait_for(lambda: replicas(cluster, ns, "mtls-worker") == 0, timeout=45, what="0")
        await start_probes(temporal_client, task_queue, 2)
        await wait_for(
            lambda: (replicas(cluster, ns, "mtls-worker") or 0) >= 1,
            timeout=scaling["pollingIntervalSeconds"] + MARGIN_SECONDS,
            what="activation through the mutual-TLS scaler",
        )
        # The proxy only forwards after verifying a client certificate from the Secret.
        assert "keda-testbed" in proxy.client_subjects
    finally:
        proxy.down()


async def _trigger_authentication(cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    found: dict[str, Any] = {}

    def probe() -> bool:
        nonlocal found
        found = get(cluster, namespace, "triggerauthentication", name) or {}
        return bool(found)

    await wait_for(probe, timeout=30, what=f"TriggerAuthentication {name}")
    return found
