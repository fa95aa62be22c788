"""The Runtime's scheduling: which watch events queue a reconcile pass, and how often.

No cluster: these drive the caches the watches feed and look at the work queue; no pass
runs (the workers are not started), so the API is never called.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from queuefleet_operator import constants
from queuefleet_operator.backlog import BacklogReader
from queuefleet_operator.config import OperatorConfig
from queuefleet_operator.kube import KubeApi
from queuefleet_operator.runtime import Runtime

DEBOUNCE = 0.05


def runtime() -> Runtime:
    # No worker runs in these tests, so nothing ever reaches the API client.
    return Runtime(
        config=OperatorConfig(temporal_address="t:7233", debounce_seconds=DEBOUNCE),
        kube=cast("KubeApi", object()),
        backlog=BacklogReader(timeout_seconds=1),
    )


def queue(generation: int = 1, **extra: Any) -> dict[str, Any]:
    return {
        "metadata": {"namespace": "ns", "name": "orders", "uid": "u1", "generation": generation},
        "spec": {"taskQueue": "orders"},
        **extra,
    }


def deployment(*, ready: int = 0, generation: int = 1) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "namespace": "ns",
            "name": "orders-worker",
            "generation": generation,
            "ownerReferences": [
                {
                    "apiVersion": f"{constants.GROUP}/{constants.VERSION}",
                    "kind": constants.KIND,
                    "name": "orders",
                    "uid": "u1",
                    "controller": True,
                }
            ],
        },
        "spec": {"replicas": 1},
        "status": {"replicas": 1, "readyReplicas": ready},
    }


def waiting(rt: Runtime) -> dict[tuple[str, str], str]:
    return rt.pending()


def test_new_queue_is_queued_once_however_many_events() -> None:
    rt = runtime()
    for _ in range(3):
        rt.queue_seen(queue())
    assert waiting(rt) == {("ns", "orders"): "spec"}


def test_status_write_echo_queues_nothing_but_a_spec_change_does() -> None:
    rt = runtime()
    rt.queue_seen(queue())
    rt._waiting.clear()  # as if a worker took it ...
    rt._queues[("ns", "orders")].reconciled_generation = 1  # ... and reconciled generation 1
    rt.queue_seen(queue(status={"observedGeneration": 1}))  # our own status write, echoed
    assert waiting(rt) == {}
    rt.queue_seen(queue(generation=2))
    assert waiting(rt) == {("ns", "orders"): "spec"}


def test_queue_found_at_startup_is_resumed() -> None:
    rt = runtime()
    rt.queue_seen(queue(status={"observedGeneration": 1}))
    assert waiting(rt) == {("ns", "orders"): "resume"}


async def test_child_events_are_debounced_and_echoes_ignored() -> None:
    rt = runtime()
    rt.queue_seen(queue())
    rt._waiting.clear()
    rt.child_seen("ADDED", deployment())
    rt.child_seen("MODIFIED", deployment(ready=1))
    assert waiting(rt) == {}  # not yet: the burst shares one pass after the debounce
    await asyncio.sleep(DEBOUNCE * 4)
    assert waiting(rt) == {("ns", "orders"): "child"}

    rt._waiting.clear()
    rt.child_seen("MODIFIED", deployment(ready=1))  # nothing the planner sees changed
    await asyncio.sleep(DEBOUNCE * 4)
    assert waiting(rt) == {}

    rt.child_seen("DELETED", deployment(ready=1))
    await asyncio.sleep(DEBOUNCE * 4)
    assert waiting(rt) == {("ns", "orders"): "child-deleted"}


def test_a_queue_in_a_pass_is_queued_again_after_it() -> None:
    rt = runtime()
    rt._running.add(("ns", "orders"))
    rt.queue_seen(queue())
    assert waiting(rt) == {}
    assert rt._again == {("ns", "orders"): "spec"}
