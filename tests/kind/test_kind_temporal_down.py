"""With the Temporal server scaled to 0, a node drain still evicts the workers, and the queue
says Temporal is unreachable, naming the address.

Worker readiness follows Temporal's health, so during an outage every worker is unready;
the PodDisruptionBudget's `unhealthyPodEvictionPolicy: AlwaysAllow` is what lets the drain
through (the default policy would refuse to evict while the budget is not met). The drain
is `kubectl drain` of the node limited to the queue's pods (a one-node cluster), through the
eviction API as always. Runs after every other module but the lifecycle one (see
tests/kind/conftest.py): the outage breaks the session's port-forward to the frontend.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest

from testbed.kind import KindRelease, get_json
from tests.kind.fleets import (
    GRAPHS_TASK_QUEUE,
    apply_queue,
    condition,
    delete_queues,
    eventually,
    node_name,
    sleep_worker,
    sync_interval_seconds,
)

QUEUE = "temporal-down"
REPLICAS = 2
SELECTOR = f"app.kubernetes.io/instance={QUEUE}"


def temporal_deployment(release: KindRelease) -> str:
    selector = f"app.kubernetes.io/instance={release.release},app.kubernetes.io/component=temporal"
    (deployment,) = get_json(release, "deployments", "-l", selector)["items"]
    return f"deployment/{deployment['metadata']['name']}"


def scale(release: KindRelease, target: str, replicas: int) -> None:
    release.kubectl("--namespace", release.namespace, "scale", target, f"--replicas={replicas}")


def worker_pods(release: KindRelease) -> list[dict[str, Any]]:
    return list(get_json(release, "pods", "-l", SELECTOR)["items"])


def ready(pod: Mapping[str, Any]) -> bool:
    conditions = {c["type"]: c["status"] for c in pod["status"].get("conditions", [])}
    return conditions.get("Ready") == "True"


@pytest.fixture
def fleet(kind_release: KindRelease) -> Iterator[str]:
    spec = {
        "taskQueue": GRAPHS_TASK_QUEUE,
        "worker": sleep_worker(gracefulShutdownSeconds=5),
        # A fixed pair: KEDA keeps it at two, and maxReplicas > 1 brings the budget.
        "scaling": {"minReplicas": REPLICAS, "maxReplicas": REPLICAS},
    }
    apply_queue(kind_release, QUEUE, spec)
    try:
        yield QUEUE
    finally:
        delete_queues(kind_release, [QUEUE])


def test_a_drain_succeeds_while_temporal_is_down_and_the_queue_names_the_address(
    kind_release: KindRelease,
    fleet: str,
    record_numbers: Callable[[str, Mapping[str, object]], None],
) -> None:
    release = kind_release
    eventually(
        lambda: len([p for p in worker_pods(release) if ready(p)]) == REPLICAS,
        what=f"{REPLICAS} ready workers",
        timeout=240,
    )
    budget = get_json(release, "poddisruptionbudget", f"{fleet}-worker")
    assert budget["spec"]["unhealthyPodEvictionPolicy"] == "AlwaysAllow"
    eventually(
        lambda: condition(release, fleet, "TemporalReachable").get("status") == "True",
        what="TemporalReachable True",
        timeout=120,
    )
    (scaled_object,) = get_json(release, "scaledobjects", "-l", SELECTOR)["items"]
    address = scaled_object["spec"]["triggers"][0]["metadata"]["endpoint"]
    temporal = temporal_deployment(release)
    node = node_name(release)
    interval = sync_interval_seconds(release)
    evicted = [p["metadata"]["name"] for p in worker_pods(release)]
    numbers: dict[str, object] = {"address": address}
    try:
        scale(release, temporal, 0)
        down = time.monotonic()
        eventually(
            lambda: (
                not get_json(release, "pods", "-l", "app.kubernetes.io/component=temporal")["items"]
            ),
            what="no Temporal server pod",
            timeout=120,
        )
        unreachable = eventually(
            lambda: (
                (c := condition(release, fleet, "TemporalReachable")).get("status") == "False" and c
            ),
            what="TemporalReachable False",
            timeout=interval * 2 + 30,
        )
        numbers["condition False after (s)"] = round(time.monotonic() - down, 1)
        eventually(
            lambda: not any(ready(p) for p in worker_pods(release)),
            what="every worker unready",
            timeout=60,
        )
        healthy = get_json(release, "poddisruptionbudget", f"{fleet}-worker")["status"]
        numbers["budget: currentHealthy / desiredHealthy"] = (
            f"{healthy.get('currentHealthy')} / {healthy.get('desiredHealthy')}"
        )

        drain_started = time.monotonic()
        drain = release.kubectl(
            "drain", node, f"--pod-selector={SELECTOR}", "--ignore-daemonsets",
            "--delete-emptydir-data", "--timeout=120s", check=False, timeout=150,
        )  # fmt: skip
        numbers["drain (s)"] = round(time.monotonic() - drain_started, 1)
        said = drain.stdout + drain.stderr
        numbers["pods evicted"] = sum(f"pod/{name} evicted" in said for name in evicted)
    finally:
        release.kubectl("uncordon", node, check=False)
        scale(release, temporal, 1)
    record_numbers("operator: drain while Temporal is down", numbers)

    assert drain.returncode == 0, f"{drain.stdout}\n{drain.stderr}"
    assert numbers["pods evicted"] == len(evicted), drain.stdout
    assert unreachable["reason"] == "TemporalUnreachable", unreachable
    assert address in unreachable["message"], unreachable
    # Temporal back: the queue and every other fleet of the release recover on their own.
    release.kubectl(
        "--namespace", release.namespace, "rollout", "status", temporal, "--timeout=180s",
        timeout=200,
    )  # fmt: skip
    eventually(
        lambda: condition(release, fleet, "TemporalReachable").get("status") == "True",
        what="TemporalReachable True again",
        timeout=interval * 2 + 30,
    )
    others = [q["metadata"]["name"] for q in get_json(release, "workflowqueues")["items"]]
    eventually(
        lambda: all(
            condition(release, name, "Ready").get("status") == "True"
            for name in others
            if name != fleet
        ),
        what=f"{others} Ready again",
        timeout=180,
    )
