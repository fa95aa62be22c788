"""Thin kopf handlers: each hands the event to the Runtime (memo.runtime) and returns.

Only watch-event handlers: the Runtime decides from its caches when a queue needs a pass
(a new generation, a child changed, a CRD came or went) and runs its own resync loop. With
no on.create/update or timer handlers kopf keeps no per-object state on WorkflowQueues: no
diff-base annotation, no finalizer. Owner references garbage-collect the children.

Registered into an explicit registry by `register`, with the operator's configuration, so
importing this module has no side effects.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Iterable, Mapping
from typing import Any, cast

import kopf

from . import constants
from .config import OperatorConfig
from .planner import Event
from .runtime import Runtime

__all__ = ["post_event", "register"]

_WATCHED_CRDS = frozenset(
    {
        constants.KEDA_SCALEDOBJECTS_CRD,
        constants.KEDA_TRIGGERAUTHENTICATIONS_CRD,
        constants.PODMONITORS_CRD,
    }
)
_QUEUES = (constants.GROUP, constants.VERSION, constants.PLURAL)
_CHILD_SELECTOR = f"{constants.LABEL_MANAGED_BY}={constants.MANAGED_BY}"
PEERING_LIFETIME_SECONDS = 20


def post_event(body: Mapping[str, Any], event: Event) -> None:
    raw = cast("kopf.RawBody", dict(body))
    kopf.event(kopf.Body(raw), type=event.type, reason=event.reason, message=event.message)


def _runtime(memo: Any) -> Runtime:
    runtime: Runtime = memo.runtime
    return runtime


def _started(memo: Any) -> Runtime:
    """The Runtime, its workers and resync loop started on the first watch event.

    They start here rather than at startup because their tasks inherit the context they are
    created in, and kopf.event() finds kopf's event poster only in a handler's context.
    """
    runtime = _runtime(memo)
    runtime.start()
    return runtime


def _snapshot(body: Mapping[str, Any]) -> dict[str, Any]:
    """A plain copy: kopf's body is a live view that changes under our feet.

    managedFields is left out: nothing reads it from a WorkflowQueue, and it is the largest
    part of the body to copy on every event (measured with `make bench-operator`).
    """
    plain = dict(body)
    metadata = dict(plain.get("metadata") or {})
    metadata.pop("managedFields", None)
    plain["metadata"] = metadata
    return copy.deepcopy(plain)


class _NoDiffBase(kopf.DiffBaseStorage):
    """kopf builds a diff base for every watch event of every resource, a deep copy each
    time, for handlers that react to field changes. We have none (we compare generations),
    so there is nothing to build or store.
    """

    def build(
        self, *, body: kopf.Body, extra_fields: Iterable[Any] | None = None
    ) -> kopf.BodyEssence:
        return cast("kopf.BodyEssence", None)

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return None

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        pass


def register(registry: kopf.OperatorRegistry, config: OperatorConfig) -> None:
    @kopf.on.startup(registry=registry)
    def configure(settings: kopf.OperatorSettings, memo: Any, **_: Any) -> None:
        """Set kopf's rules explicitly rather than rely on defaults nobody remembers."""
        rediscovery = getattr(memo, "rediscovery", None)
        if rediscovery is not None:
            rediscovery.settings = settings
        persistence = settings.persistence
        # No handler needs a finalizer; naming the one earlier versions added lets kopf
        # remove it from existing WorkflowQueues ("no handlers requiring it").
        persistence.finalizer = constants.FINALIZER
        persistence.progress_storage = kopf.AnnotationsProgressStorage(
            prefix=constants.ANNOTATION_PREFIX
        )
        persistence.diffbase_storage = _NoDiffBase()
        # Watches are re-established regularly, so a silently dead connection cannot
        # leave the operator blind for long.
        settings.watching.server_timeout = 300
        settings.watching.client_timeout = 330
        settings.watching.connect_timeout = 10
        settings.networking.request_timeout = 60
        # Only our children travel over the children's watches (server-side filtering).
        for kind in constants.CHILD_KINDS:
            settings.watching.label_selectors[kind.group, kind.plural] = _CHILD_SELECTOR
        settings.watching.label_selectors["", "pods"] = _CHILD_SELECTOR
        # Handler log lines stay logs; our own events are posted explicitly.
        settings.posting.level = logging.WARNING
        settings.execution.max_workers = 8
        # A replica that died without a goodbye stops counting after this long, so the
        # standby takes over within it (kopf's default is 60 s).
        settings.peering.lifetime = PEERING_LIFETIME_SECONDS

    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> Any:
        """The same credentials as our own client: in-cluster, else the kubeconfig."""
        return kopf.login_via_client(**kwargs)

    @kopf.on.startup(registry=registry)
    async def prime(memo: Any, **_: Any) -> None:
        """Know the CRDs and existing children before the first reconcile pass."""
        await asyncio.to_thread(_runtime(memo).prime)

    @kopf.on.startup(registry=registry)
    async def follow_peering(memo: Any, **_: Any) -> None:
        """Pause and resume the runtime's own loops as kopf's peering pauses and resumes."""
        monitor = getattr(memo, "peering", None)
        if monitor is not None:
            await monitor.check()  # decide before the first watch event
            _runtime(memo).run_in_background(monitor.run(), name="peering monitor")

    @kopf.on.cleanup(registry=registry)
    async def cleanup(memo: Any, **_: Any) -> None:
        await _runtime(memo).close()

    @kopf.on.probe(id="queues", registry=registry)
    def queues_known(memo: Any, **_: Any) -> int:
        return sum(1 for _ in _runtime(memo).statuses())

    # Event handlers are coroutines: they only touch in-memory caches, on the loop's thread.
    @kopf.on.event(*_QUEUES, registry=registry)
    async def queue_event(event: Mapping[str, Any], memo: Any, **_: Any) -> None:
        """Keep the cache of WorkflowQueues current (deletions clear it); a new generation
        queues a reconcile pass."""
        body = event.get("object") or {}
        if event.get("type") == "DELETED":
            _started(memo).queue_gone(body)
        else:
            _started(memo).queue_seen(_snapshot(body))

    for kind in constants.CHILD_KINDS:

        @kopf.on.event(
            kind.group,
            kind.version,
            kind.plural,
            labels={constants.LABEL_MANAGED_BY: constants.MANAGED_BY},
            registry=registry,
        )
        async def child_event(event: Mapping[str, Any], memo: Any, **_: Any) -> None:
            """A child changed or vanished: update the cache; repair if someone else did it."""
            _started(memo).child_seen(event.get("type"), event.get("object") or {})

    @kopf.on.event(
        "",
        "v1",
        "pods",
        labels={
            constants.LABEL_MANAGED_BY: constants.MANAGED_BY,
            constants.LABEL_NAME: constants.WORKER_APP_NAME,
        },
        registry=registry,
    )
    async def pod_event(event: Mapping[str, Any], memo: Any, **_: Any) -> None:
        """A worker pod's container failing (or recovering) shows in its queue's status."""
        _started(memo).pod_seen(event.get("type"), event.get("object") or {})

    @kopf.on.event(
        constants.TEMPORAL_CONNECTION.group,
        constants.TEMPORAL_CONNECTION.version,
        constants.TEMPORAL_CONNECTION.plural,
        registry=registry,
    )
    async def connection_event(event: Mapping[str, Any], memo: Any, **_: Any) -> None:
        """A TemporalConnection changed: the queues that reference it are planned again."""
        _started(memo).connection_seen(event.get("type"), _snapshot(event.get("object") or {}))

    @kopf.on.event(
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        when=lambda name, **_: name in _WATCHED_CRDS,
        registry=registry,
    )
    async def crd_event(event: Mapping[str, Any], memo: Any, **_: Any) -> None:
        """KEDA or the Prometheus Operator appearing or leaving changes the children; one
        that appeared is watched as soon as discovery serves it (see `discovery`)."""
        runtime = _started(memo)
        body = event.get("object") or {}
        runtime.crd_seen(event.get("type"), body)
        rediscovery = getattr(memo, "rediscovery", None)
        if rediscovery is not None and event.get("type") != "DELETED" and _established(body):
            runtime.run_in_background(rediscovery.follow(body), name="CRD discovery")


def _established(crd: Mapping[str, Any]) -> bool:
    conditions = (crd.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)
