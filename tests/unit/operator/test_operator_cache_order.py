"""The child cache keeps the newest state of each child, whichever way it arrived.

Two paths write a child into the cache: the watch, and the response of our own apply. The
response can reach the reconciler after the watch already delivered a newer state of the
same object: KEDA marks a new ScaledObject Ready within milliseconds of its creation, and
on a busy operator the apply's response waits for the event loop. Taking the response then
would lose KEDA's Ready for good, since no later event brings it back (seen in
bench-operator: 1 of 300 queues stayed AutoscalerNotReady).
"""

from __future__ import annotations

from typing import Any

from queuefleet_operator import constants
from queuefleet_operator.cache import Cache
from queuefleet_operator.observed import Applied, child_snapshot

KEY = ("ns", "orders")
APPLIED = Applied(config_hash="h1", fingerprint="f1")


def queue() -> dict[str, Any]:
    return {
        "metadata": {"namespace": "ns", "name": "orders", "uid": "u1", "generation": 1},
        "spec": {"taskQueue": "orders"},
    }


def scaled_object(resource_version: str, *, ready: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {
            "namespace": "ns",
            "name": "orders-worker",
            "generation": 1,
            "resourceVersion": resource_version,
            "annotations": {constants.CONFIG_HASH_ANNOTATION: "h1"},
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
        "spec": {"minReplicaCount": 1},
    }
    if ready is not None:
        body["status"] = {"conditions": [{"type": "Ready", "status": ready}]}
    return body


def ready_of(cache: Cache) -> str | None:
    child = cache.children(KEY)[constants.SCALED_OBJECT.kind]
    assert child.scaled_object is not None
    return child.scaled_object.ready.status if child.scaled_object.ready else None


def cache_with_queue() -> Cache:
    cache = Cache()
    cache.queue_seen(queue())
    return cache


def test_an_apply_response_older_than_the_watched_state_keeps_the_watched_state() -> None:
    cache = cache_with_queue()
    cache.child_seen("ADDED", scaled_object("600"))
    cache.child_seen("MODIFIED", scaled_object("615", ready="True"))  # KEDA accepted it
    kept = cache.record_applied(KEY, child_snapshot(scaled_object("600")), APPLIED)
    assert kept.resource_version == "615"
    assert ready_of(cache) == "True"
    state = cache.queue(KEY)
    assert state is not None
    assert state.applied[constants.SCALED_OBJECT.kind] == APPLIED


def test_a_newer_apply_response_replaces_the_watched_state() -> None:
    cache = cache_with_queue()
    cache.child_seen("ADDED", scaled_object("600", ready="False"))
    cache.record_applied(KEY, child_snapshot(scaled_object("640", ready="True")), APPLIED)
    assert ready_of(cache) == "True"


def test_a_watch_event_older_than_the_cached_response_is_ignored_and_asks_no_pass() -> None:
    cache = cache_with_queue()
    cache.record_applied(KEY, child_snapshot(scaled_object("640", ready="True")), APPLIED)
    assert cache.child_seen("MODIFIED", scaled_object("600")) is None
    assert ready_of(cache) == "True"
    assert cache.child_seen("MODIFIED", scaled_object("650", ready="False")) == KEY
    assert ready_of(cache) == "False"


def test_versions_that_are_not_revisions_leave_the_latest_arrival_in_place() -> None:
    cache = cache_with_queue()
    cache.child_seen("ADDED", scaled_object("b7", ready="True"))
    cache.record_applied(KEY, child_snapshot(scaled_object("a3")), APPLIED)
    assert ready_of(cache) is None


def test_a_listing_that_shows_a_change_asks_for_a_pass() -> None:
    """A watch that starts late (a CRD installed after the operator) lists what changed
    while nobody watched: KEDA's Ready must reach the status without waiting for a resync."""
    cache = cache_with_queue()
    cache.record_applied(KEY, child_snapshot(scaled_object("600")), APPLIED)
    assert cache.child_seen(None, scaled_object("615", ready="True")) == KEY
    assert cache.child_seen(None, scaled_object("615", ready="True")) is None  # nothing new
