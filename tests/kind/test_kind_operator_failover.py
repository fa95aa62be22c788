"""Two operator replicas in the cluster: the active one dies mid-burst, the standby takes over.

The chart runs two replicas sharing a kopf peering object. During a burst of WorkflowQueue
changes the active replica's process is frozen from the node (SIGSTOP: no goodbye to its
peers, no more lease renewals, exactly what a hung or partitioned pod looks like), then
killed (SIGKILL; the kubelet restarts its container with a new peering identity and a new
random priority). Measured: the time from the freeze to the standby's first reconcile pass
(goal ≤ 30 s), duplicate children (0), status.observedGeneration stepping backwards (never),
and the writes of whichever replica is not active afterwards (none, by its own counters).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest

from testbed.audit import GenerationAudit
from testbed.docker import DockerEngine
from testbed.kind import KindRelease, get_json
from tests.kind.fleets import (
    GRAPHS_TASK_QUEUE,
    active_operator,
    apply_queue,
    delete_queues,
    eventually,
    operator_metric,
    operator_pods,
    reconciled,
    signal_operator,
    sleep_worker,
)

QUEUES = tuple(f"failover-{index}" for index in range(4))
TAKEOVER_GOAL_SECONDS = 30.0
WRITES = ("queuefleet_operator_status_writes_total", "queuefleet_operator_child_applies_total")
# The children of these queues: KEDA is installed and maxReplicas > 1 brings a budget; a
# PodMonitor comes with the monitoring stack's CRD (at most one either way).
CHILD_KINDS = ("deployments", "scaledobjects", "poddisruptionbudgets")
OPTIONAL_CHILD_KINDS = ("podmonitors",)


def queue_spec(burst: int) -> dict[str, Any]:
    """A fleet at zero replicas (no backlog ever reaches it); `burst` changes its template."""
    worker = sleep_worker()
    worker["env"] = [*worker["env"], {"name": "KIND_BURST", "value": str(burst)}]
    return {
        "taskQueue": GRAPHS_TASK_QUEUE,
        "worker": worker,
        "scaling": {"minReplicas": 0, "maxReplicas": 2, "pollingIntervalSeconds": 5},
    }


def writes(release: KindRelease, pod: str) -> tuple[float, ...] | None:
    values = [operator_metric(release, pod, name) for name in WRITES]
    return None if any(v is None for v in values) else tuple(float(v or 0) for v in values)


def passes_ok(release: KindRelease, pod: str) -> float:
    value = operator_metric(release, pod, "queuefleet_operator_reconciles_total", result="ok")
    return value or 0.0


def burst_env(release: KindRelease, name: str) -> str | None:
    result = release.kubectl(
        "--namespace", release.namespace, "get", "deployment", f"{name}-worker", "-o", "json",
        check=False,
    )  # fmt: skip
    if result.returncode != 0:
        return None
    (container,) = json.loads(result.stdout)["spec"]["template"]["spec"]["containers"]
    values = [e.get("value") for e in container.get("env", []) if e["name"] == "KIND_BURST"]
    return values[0] if values else None


def converged(release: KindRelease, burst: int) -> bool:
    return all(
        reconciled(release, name) and burst_env(release, name) == str(burst) for name in QUEUES
    )


def operators_ready(release: KindRelease) -> bool:
    pods = operator_pods(release)
    ready = [
        p for p in pods if all(c.get("ready") for c in p["status"].get("containerStatuses") or [{}])
    ]
    return len(pods) == 2 and len(ready) == 2


def settled_active(release: KindRelease) -> str | None:
    """The active replica, once the same one is reported twice, two seconds apart."""
    first = active_operator(release)
    time.sleep(2)  # peering re-decides every second: a hand-over in progress shows twice
    return first if first is not None and active_operator(release) == first else None


@pytest.fixture
def queues(kind_release: KindRelease) -> Iterator[tuple[str, ...]]:
    try:
        yield QUEUES
    finally:
        delete_queues(kind_release, QUEUES)


def test_the_standby_takes_over_and_a_replica_that_is_not_active_writes_nothing(
    kind_release: KindRelease,
    docker_engine: DockerEngine,
    queues: tuple[str, ...],
    record_numbers: Callable[[str, Mapping[str, object]], None],
) -> None:
    release = kind_release
    eventually(lambda: operators_ready(release), what="two ready operator replicas", timeout=120)
    active = eventually(lambda: settled_active(release), what="one active replica", timeout=60)
    (standby,) = [
        p["metadata"]["name"] for p in operator_pods(release) if p["metadata"]["name"] != active
    ]
    standby_writes = writes(release, standby)
    applies_before = operator_metric(release, active, WRITES[1]) or 0.0
    standby_passes = passes_ok(release, standby)
    numbers: dict[str, object] = {"active": active, "standby": standby}

    with GenerationAudit(release.kubectl, release.namespace, queues) as audit:
        for name in queues:
            apply_queue(release, name, queue_spec(burst=1))
        eventually(
            lambda: (operator_metric(release, active, WRITES[1]) or 0) >= applies_before + 3,
            what="the active replica at work on the burst",
            timeout=60,
            every=0.2,
        )
        assert writes(release, standby) == standby_writes, "the standby wrote"
        signal_operator(release, active, "STOP")
        frozen = time.monotonic()
        for name in queues:  # the burst goes on while nobody is active
            apply_queue(release, name, queue_spec(burst=2))
        eventually(
            lambda: passes_ok(release, standby) > standby_passes,
            what="the standby's first reconcile pass",
            timeout=TAKEOVER_GOAL_SECONDS * 3,
            every=0.2,
        )
        takeover = time.monotonic() - frozen
        numbers["first reconcile after the kill (s)"] = round(takeover, 1)
        # The frozen process dies now, before the kubelet's liveness probe gives up on it;
        # its container comes back as a new peer with a new priority.
        signal_operator(release, active, "KILL")
        eventually(lambda: converged(release, 2), what="every queue at burst 2", timeout=120)
        numbers["all queues reconciled after the kill (s)"] = round(time.monotonic() - frozen, 1)
        eventually(lambda: operators_ready(release), what="both replicas ready again", timeout=180)
        now_active = eventually(
            lambda: settled_active(release), what="one active replica", timeout=90
        )
        (not_active,) = [
            p["metadata"]["name"]
            for p in operator_pods(release)
            if p["metadata"]["name"] != now_active
        ]
        numbers["active after the restart"] = now_active
        quiet = eventually(lambda: writes(release, not_active), what="its counters", timeout=30)
        for name in queues:
            apply_queue(release, name, queue_spec(burst=3))
        eventually(lambda: converged(release, 3), what="every queue at burst 3", timeout=120)
        later = writes(release, not_active)
        assert later is not None, f"{not_active} stopped answering"
        numbers["writes by the replica not active (status, applies)"] = tuple(
            b - a for a, b in zip(quiet, later, strict=True)
        )
        numbers["writes by the active replica (status, applies)"] = writes(release, now_active)

    duplicates = {}
    for name in queues:
        selector = f"app.kubernetes.io/instance={name}"
        for kind in CHILD_KINDS + OPTIONAL_CHILD_KINDS:
            found = get_json(release, kind, "-l", selector)["items"]
            if len(found) > 1 or (not found and kind in CHILD_KINDS):
                duplicates[f"{kind} of {name}"] = [i["metadata"]["name"] for i in found]
    numbers["duplicate or missing children"] = len(duplicates)
    numbers["observedGeneration steps backwards"] = len(audit.backwards())
    record_numbers("operator: failover", numbers)

    assert takeover <= TAKEOVER_GOAL_SECONDS, f"took {takeover:.1f}s"
    assert not duplicates, duplicates
    assert audit.backwards() == {}, audit.backwards()
    assert all(audit.seen[name] for name in queues), audit.seen
    assert later == quiet, f"{not_active} wrote while not active"
