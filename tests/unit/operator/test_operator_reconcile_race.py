"""A pass whose children change while it applies them: its status says what it left.

KEDA accepts a new ScaledObject within milliseconds, so its Ready often reaches the watch
before our apply's response reaches the reconciler. Against a real API server that order
cannot be forced, so the API here is a stand-in that delivers the watch events inside
`apply`, the way they interleave on a busy operator; the cache, the planner and the
reconciler are the operator's own. Before the fix, the pass recorded KEDA's Ready as seen
while its status (planned before the applies) still said "waiting for KEDA", and no later
event or periodic pass corrected it.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

from queuefleet_operator import constants
from queuefleet_operator.cache import Cache
from queuefleet_operator.conditions import Reason
from queuefleet_operator.config import OperatorConfig
from queuefleet_operator.kube import KubeApi
from queuefleet_operator.metrics import OperatorMetrics
from queuefleet_operator.reconciler import Reconciler

_T = TypeVar("_T")
KEY = ("ns", "orders")
KEDA_CRDS = (constants.KEDA_SCALEDOBJECTS_CRD, constants.KEDA_TRIGGERAUTHENTICATIONS_CRD)


class ApiWithWatch:
    """Apply answers with the object as applied; for a ScaledObject, the watch delivers
    KEDA's Ready (a newer version) before that answer comes back."""

    def __init__(self, cache: Cache) -> None:
        self._cache = cache
        self._versions = itertools.count(100)
        self.statuses: list[Mapping[str, Any]] = []

    def apply(self, manifest: Mapping[str, Any], *, field_manager: str = "") -> dict[str, Any]:
        metadata = {**manifest["metadata"], "generation": 1}
        live = {**manifest, "metadata": {**metadata, "resourceVersion": str(next(self._versions))}}
        if manifest["kind"] == constants.SCALED_OBJECT.kind:
            self._cache.child_seen("ADDED", live)
            ready = {"conditions": [{"type": "Ready", "status": "True"}]}
            accepted = {**metadata, "resourceVersion": str(next(self._versions))}
            self._cache.child_seen("MODIFIED", {**live, "metadata": accepted, "status": ready})
        return live

    def patch_status(
        self, namespace: str, name: str, status: Mapping[str, Any], version: str | None = None
    ) -> dict[str, Any]:
        self.statuses.append(status)
        return {"metadata": {"resourceVersion": str(next(self._versions))}, "status": status}


def queue() -> dict[str, Any]:
    return {
        "apiVersion": f"{constants.GROUP}/{constants.VERSION}",
        "kind": constants.KIND,
        "metadata": {
            "namespace": "ns",
            "name": "orders",
            "uid": "u1",
            "generation": 1,
            "resourceVersion": "7",
        },
        "spec": {"taskQueue": "orders"},
    }


async def direct(function: Callable[..., _T], /, *args: Any, **kwargs: Any) -> _T:
    return function(*args, **kwargs)


def by_type(status: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {c["type"]: c for c in status["conditions"]}


def test_kedas_ready_arriving_before_the_apply_response_is_in_the_status() -> None:
    cache = Cache()
    for crd in KEDA_CRDS:
        established = {"conditions": [{"type": "Established", "status": "True"}]}
        cache.crd_seen("ADDED", {"metadata": {"name": crd}, "status": established})
    cache.queue_seen(queue())
    api = ApiWithWatch(cache)
    reconciler = Reconciler(
        config=OperatorConfig(temporal_address="t:7233", worker_image="example/worker:1"),
        kube=cast("KubeApi", api),
        cache=cache,
        metrics=OperatorMetrics(),
        blocking=direct,
        clock=lambda: datetime.now(UTC),
    )
    asyncio.run(reconciler.reconcile(KEY, trigger="spec"))

    [status] = api.statuses  # one status write for the pass
    conditions = by_type(status)
    assert conditions["AutoscalerReady"]["reason"] == Reason.SCALED_OBJECT_READY
    # The Deployment is as the apply left it: created, its controller not yet at work.
    assert conditions["Available"]["reason"] == Reason.ROLLOUT_IN_PROGRESS
    # What the pass recorded as seen is what its status was planned from: nothing new.
    assert cache.unchanged_since_pass(KEY)
