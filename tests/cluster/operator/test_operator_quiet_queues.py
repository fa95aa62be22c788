"""Passes only for news: a new queue's first pass already knows Temporal's answer, and a
queue at rest costs backlog reads, not reconcile passes. Counted by the operator's metrics.

On the kwok control plane, with Temporal closed (its answer, "unreachable", is what the
first status must already say). Each negative check waits for a positive event to happen
first: enough backlog reads that the old periodic pass would have run several times.
"""

from __future__ import annotations

from pathlib import Path

from queuefleet_operator.runtime import FULL_RESYNC_INTERVALS

from testbed.cluster import Cluster
from testbed.process import free_port
from tests.cluster.operator.conftest import (
    apply_queue,
    condition,
    eventually,
    get,
    keda_accepts,
    metric,
    start_operator,
)

PASSES = "queuefleet_operator_reconciles_total"
READS = "queuefleet_operator_backlog_reads_total"


def ready_queue(kube: Cluster, namespace: str, name: str) -> None:
    apply_queue(kube, namespace, name)
    eventually(lambda: get(kube, namespace, "scaledobject", f"{name}-worker"), what="SO")
    keda_accepts(kube, namespace, f"{name}-worker")
    eventually(
        lambda: condition(kube, namespace, name, "Ready").get("status") == "True", what="Ready"
    )


def test_a_new_queues_first_pass_already_knows_whether_temporal_answers(
    queuefleet_crds: Cluster, namespace: str, artifacts: Path
) -> None:
    kube = queuefleet_crds
    port = free_port()
    # A long interval: no round of the resync loop comes between the queue and its Ready.
    operator = start_operator(kube, namespace, artifacts, metrics_port=port, sync_interval=60)
    try:
        ready_queue(kube, namespace, "first")
        reachable = condition(kube, namespace, "first", "TemporalReachable")
        assert reachable.get("status") == "False", reachable
        assert metric(port, READS) >= 1
        # The first read was in before the first pass: no second pass to report it.
        assert metric(port, PASSES, trigger="spec") == 1
        assert metric(port, PASSES, trigger="timer") == 0
    finally:
        operator.stop()


def test_a_queue_at_rest_costs_backlog_reads_and_no_passes(
    queuefleet_crds: Cluster, namespace: str, artifacts: Path
) -> None:
    kube = queuefleet_crds
    port = free_port()
    sync_interval = 1.0
    operator = start_operator(
        kube, namespace, artifacts, metrics_port=port, sync_interval=sync_interval
    )
    try:
        ready_queue(kube, namespace, "calm")
        timer_passes = metric(port, PASSES, trigger="timer")
        reads = metric(port, READS)
        # One read per interval: three times the reads that make a periodic pass due.
        eventually(
            lambda: metric(port, READS) >= reads + 3 * FULL_RESYNC_INTERVALS,
            what="backlog reads over three periodic-pass periods",
            timeout=3 * FULL_RESYNC_INTERVALS * sync_interval + 15,
        )
        assert metric(port, PASSES, trigger="timer") == timer_passes
    finally:
        operator.stop()
