"""Two operator replicas peering through kopf: one works, the other writes nothing.

Real processes against the kwok control plane, not --standalone. The active replica is
killed (SIGKILL, no goodbye) during a burst of WorkflowQueue changes; the standby takes
over once the dead peer's lifetime runs out. Then a third replica of higher priority
arrives, and the one that was active pauses at once and writes nothing more.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

from testbed.audit import GenerationAudit
from testbed.cluster import Cluster
from testbed.process import Process, free_port
from tests.cluster.operator.conftest import (
    apply_queue,
    condition,
    eventually,
    get,
    keda_accepts,
    metric,
    start_operator,
)

PEERING = "queuefleet-test"
QUEUES = 8
TAKEOVER_GOAL_SECONDS = 30.0


def writes(port: int) -> tuple[float, float]:
    return (
        metric(port, "queuefleet_operator_status_writes_total"),
        metric(port, "queuefleet_operator_child_applies_total"),
    )


def active(port: int) -> bool:
    return metric(port, "queuefleet_operator_active") == 1


def ready_at_generation(kube: Cluster, namespace: str, name: str) -> bool:
    queue = get(kube, namespace, "workflowqueue", name) or {}
    ready = condition(kube, namespace, name, "Ready")
    return (
        ready.get("status") == "True"
        and (queue.get("status") or {}).get("observedGeneration") == queue["metadata"]["generation"]
    )


def test_standby_takes_over_and_a_paused_replica_writes_nothing(
    queuefleet_crds: Cluster, namespace: str, artifacts: Path
) -> None:
    kube = queuefleet_crds
    peering = {
        "apiVersion": "kopf.dev/v1",
        "kind": "KopfPeering",
        "metadata": {"name": PEERING, "namespace": namespace},
    }
    kube.kubectl("apply", "-f", "-", stdin=json.dumps(peering))
    ports = {name: free_port() for name in ("a", "b", "c")}
    started: list[Process] = []

    def replica(name: str, priority: int) -> Process:
        process = start_operator(
            kube, namespace, artifacts, metrics_port=ports[name], peering=PEERING,
            priority=priority, log_name=f"{namespace}-{name}",
        )  # fmt: skip
        started.append(process)
        return process

    try:
        first = replica("a", 20)
        replica("b", 10)
        eventually(
            lambda: active(ports["a"]) and not active(ports["b"]), what="a active, b standby"
        )
        with GenerationAudit(kube.kubectl, namespace) as audit:
            for index in range(QUEUES):
                apply_queue(kube, namespace, f"q{index}")
            eventually(
                lambda: metric(ports["a"], "queuefleet_operator_child_applies_total") >= 3,
                what="a at work on the burst",
            )
            assert writes(ports["b"]) == (0, 0), "the standby wrote"
            os.killpg(first.popen.pid, signal.SIGKILL)
            killed_at = time.monotonic()
            for index in range(QUEUES // 2):  # more changes while nobody is active
                apply_queue(kube, namespace, f"q{index}", worker={"image": "acme/worker:2"})
            eventually(
                lambda: metric(ports["b"], "queuefleet_operator_reconciles_total") > 0,
                what="b's first pass",
                timeout=TAKEOVER_GOAL_SECONDS * 2,
            )
            takeover = time.monotonic() - killed_at
            (artifacts / "operator").mkdir(parents=True, exist_ok=True)
            (artifacts / "operator" / "failover.json").write_text(
                json.dumps({"seconds_to_first_reconcile_after_kill": round(takeover, 2)})
            )
            print(f"time to first reconcile after the kill: {takeover:.1f}s")
            for index in range(QUEUES):
                name = f"q{index}-worker"
                eventually(lambda name=name: get(kube, namespace, "scaledobject", name), what=name)
                keda_accepts(kube, namespace, name)
            for index in range(QUEUES):
                eventually(
                    lambda index=index: ready_at_generation(kube, namespace, f"q{index}"),
                    what=f"q{index} Ready at its generation",
                )
            assert takeover <= TAKEOVER_GOAL_SECONDS

            # A higher-priority replica arrives: b pauses at once and writes nothing more.
            replica("c", 30)
            eventually(lambda: not active(ports["b"]) and active(ports["c"]), what="c takes over")
            paused_writes = writes(ports["b"])
            for index in range(QUEUES):
                apply_queue(kube, namespace, f"q{index}", worker={"image": "acme/worker:3"})
            for index in range(QUEUES):
                eventually(
                    lambda index=index: ready_at_generation(kube, namespace, f"q{index}"),
                    what=f"q{index} reconciled by c",
                )
            assert writes(ports["b"]) == paused_writes, "the paused replica wrote"
            assert metric(ports["c"], "queuefleet_operator_status_writes_total") > 0
        assert audit.backwards() == {}
        assert all(audit.seen[f"q{index}"] for index in range(QUEUES))
        names = kube.kubectl("-n", namespace, "get", "deployments", "-o", "name").stdout.split()
        assert sorted(names) == sorted(f"deployment.apps/q{i}-worker" for i in range(QUEUES))
        for index in range(QUEUES):
            deployment: dict[str, Any] = (
                get(kube, namespace, "deployment", f"q{index}-worker") or {}
            )
            image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
            assert image == "acme/worker:3"
    finally:
        for process in started:
            process.stop()
