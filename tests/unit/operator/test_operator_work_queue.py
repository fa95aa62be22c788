"""The Runtime's scheduling: which watch events queue a reconcile pass, and how often.

No cluster: these drive the caches the watches feed and take keys out of the work queue
as a worker would; no pass runs (the workers are not started), so the API is never called.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any, cast

import pytest
from queuefleet_operator import constants
from queuefleet_operator.backlog import BacklogReader
from queuefleet_operator.config import OperatorConfig
from queuefleet_operator.kube import KubeApi
from queuefleet_operator.observed import TemporalCheck
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


async def take(rt: Runtime) -> tuple[str, str]:
    """What a worker does first: take the next queue out of the work queue."""
    item = await asyncio.wait_for(rt.workqueue.get(), timeout=1)
    return item.key


def test_new_queue_is_queued_once_however_many_events() -> None:
    rt = runtime()
    for _ in range(3):
        rt.queue_seen(queue())
    assert waiting(rt) == {("ns", "orders"): "spec"}


async def test_status_write_echo_queues_nothing_but_a_spec_change_does() -> None:
    rt = runtime()
    rt.queue_seen(queue())
    key = await take(rt)
    state = rt.cache.queue(key)
    assert state is not None
    state.reconciled_generation = 1  # what the pass records when it starts
    rt.workqueue.done(key)
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
    rt.workqueue.done(await take(rt))
    rt.child_seen("ADDED", deployment())
    rt.child_seen("MODIFIED", deployment(ready=1))
    assert waiting(rt) == {}  # not yet: the burst shares one pass after the debounce
    await until(lambda: waiting(rt) == {("ns", "orders"): "child"})

    rt.workqueue.done(await take(rt))
    rt.child_seen("MODIFIED", deployment(ready=1))  # nothing the planner sees changed
    await asyncio.sleep(DEBOUNCE * 4)  # a negative check: longer than the debounce
    assert waiting(rt) == {}

    rt.child_seen("DELETED", deployment(ready=1))
    await until(lambda: waiting(rt) == {("ns", "orders"): "child-deleted"})


async def test_a_child_change_during_a_pass_gets_a_pass_of_its_own() -> None:
    """The pass planned from the children it observed; KEDA's Ready (here: a rollout's
    progress) arriving while it ran is news to it, not an echo to ignore."""
    rt = runtime()
    rt.queue_seen(queue())
    rt.child_seen("ADDED", deployment())
    key = await take(rt)
    observed = rt.cache.pass_inputs(key)  # what the pass plans from
    assert observed is not None
    rt.child_seen("MODIFIED", deployment(ready=1))  # arrives during the pass
    rt.cache.mark_seen_by_pass(key, observed)
    rt.workqueue.done(key)
    await until(lambda: waiting(rt) == {("ns", "orders"): "child"})


async def test_a_queue_in_a_pass_is_queued_again_after_it() -> None:
    rt = runtime()
    rt.queue_seen(queue())
    key = await take(rt)
    rt.queue_seen(queue(generation=2))  # arrives during the pass
    assert waiting(rt) == {}
    rt.workqueue.done(key)
    assert waiting(rt) == {("ns", "orders"): "spec"}


async def test_deleted_queue_leaves_the_work_queue() -> None:
    rt = runtime()
    rt.queue_seen(queue())
    rt.queue_gone(queue())
    assert waiting(rt) == {}
    assert rt.cache.queue(("ns", "orders")) is None


async def test_a_paused_runtime_hands_out_nothing_until_resumed() -> None:
    rt = runtime()
    rt.queue_seen(queue())
    rt.pause()
    assert not rt.active
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(rt.workqueue.get(), timeout=DEBOUNCE * 4)
    assert waiting(rt) == {("ns", "orders"): "spec"}  # kept, not lost
    rt.resume()
    assert await take(rt) == ("ns", "orders")


async def until(check: Any, timeout: float = 2.0) -> None:
    """Poll `check` until it holds (a deadline, not a fixed sleep)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(DEBOUNCE / 5)


def test_a_pass_is_news_only_when_an_input_changed_since_the_last_one() -> None:
    """What the periodic pass and the child debounce compare: every input of the planner.
    A child re-listed by a watch (no event type), a Temporal answer, an optional CRD, a
    status someone else wrote: each makes a pass worth running again."""
    rt = runtime()
    rt.queue_seen(queue())
    key = ("ns", "orders")
    rt.child_seen("ADDED", deployment())

    def after_a_pass() -> None:
        inputs = rt.cache.pass_inputs(key)
        assert inputs is not None
        rt.cache.mark_seen_by_pass(key, inputs)
        assert rt.cache.unchanged_since_pass(key)

    after_a_pass()
    rt.child_seen(None, deployment(ready=1))  # a watch re-listed: no event, but news
    assert not rt.cache.unchanged_since_pass(key)

    after_a_pass()
    state = rt.cache.queue(key)
    assert state is not None
    state.temporal = TemporalCheck(reachable=False, checked_at=datetime.now(UTC), error="down")
    assert not rt.cache.unchanged_since_pass(key)

    after_a_pass()
    state.temporal = TemporalCheck(reachable=False, checked_at=datetime.now(UTC), error="down")
    assert rt.cache.unchanged_since_pass(key)  # read again, same answer: not news

    crd = {
        "metadata": {"name": constants.PODMONITORS_CRD},
        "status": {"conditions": [{"type": "Established", "status": "True"}]},
    }
    rt.crd_seen("ADDED", crd)
    assert not rt.cache.unchanged_since_pass(key)

    after_a_pass()
    rt.queue_seen(queue(status={"conditions": [{"type": "Ready", "status": "True"}]}))
    assert not rt.cache.unchanged_since_pass(key)  # a status we did not write

    rt.cache.forget_pass(key)  # a pass began; until one ends well nothing counts as seen
    assert not rt.cache.unchanged_since_pass(key)
