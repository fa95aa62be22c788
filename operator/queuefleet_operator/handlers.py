"""Thin kopf handlers: each hands the event to the Runtime (memo.runtime) and returns.

Registered into an explicit registry by `register`, with the operator's configuration, so
importing this module has no side effects.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Mapping
from typing import Any, cast

import kopf

from . import constants
from .config import OperatorConfig
from .kube import KubeError
from .planner import Event
from .runtime import ApplyFailedError, Runtime

__all__ = ["post_event", "register"]

# Retry delay after a failed pass started by a create/update/resume.
_RETRY_SECONDS = 15
_WATCHED_CRDS = frozenset(
    {
        constants.KEDA_SCALEDOBJECTS_CRD,
        constants.KEDA_TRIGGERAUTHENTICATIONS_CRD,
        constants.PODMONITORS_CRD,
    }
)
_QUEUES = (constants.GROUP, constants.VERSION, constants.PLURAL)
_CHILD_SELECTOR = f"{constants.LABEL_MANAGED_BY}={constants.MANAGED_BY}"


def post_event(body: Mapping[str, Any], event: Event) -> None:
    raw = cast("kopf.RawBody", dict(body))
    kopf.event(kopf.Body(raw), type=event.type, reason=event.reason, message=event.message)


def _runtime(memo: Any) -> Runtime:
    runtime: Runtime = memo.runtime
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


def register(registry: kopf.OperatorRegistry, config: OperatorConfig) -> None:
    @kopf.on.startup(registry=registry)
    def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        """Set kopf's rules explicitly rather than rely on defaults nobody remembers."""
        persistence = settings.persistence
        persistence.finalizer = constants.FINALIZER
        persistence.progress_storage = kopf.AnnotationsProgressStorage(
            prefix=constants.ANNOTATION_PREFIX
        )
        persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
            prefix=constants.ANNOTATION_PREFIX, key="last-handled-configuration"
        )
        # Watches are re-established regularly, so a silently dead connection cannot
        # leave the operator blind for long.
        settings.watching.server_timeout = 300
        settings.watching.client_timeout = 330
        settings.watching.connect_timeout = 10
        settings.networking.request_timeout = 60
        # Only our children travel over the children's watches (server-side filtering).
        for kind in constants.CHILD_KINDS:
            settings.watching.label_selectors[kind.group, kind.plural] = _CHILD_SELECTOR
        # Handler log lines stay logs; our own events are posted explicitly.
        settings.posting.level = logging.WARNING
        settings.execution.max_workers = 8

    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> Any:
        """The same credentials as our own client: in-cluster, else the kubeconfig."""
        return kopf.login_via_client(**kwargs)

    @kopf.on.startup(registry=registry)
    async def prime(memo: Any, **_: Any) -> None:
        """Know the CRDs and existing children before the first reconcile pass."""
        await asyncio.to_thread(_runtime(memo).prime)

    @kopf.on.cleanup(registry=registry)
    async def cleanup(memo: Any, **_: Any) -> None:
        await _runtime(memo).close()

    @kopf.on.probe(id="queues", registry=registry)
    def queues_known(memo: Any, **_: Any) -> int:
        return sum(1 for _ in _runtime(memo).statuses())

    # Event handlers are coroutines: they only touch in-memory caches, on the loop's thread.
    @kopf.on.event(*_QUEUES, registry=registry)
    async def queue_event(event: Mapping[str, Any], memo: Any, **_: Any) -> None:
        """Keep the cache of WorkflowQueues current (deletions clear it)."""
        body = event.get("object") or {}
        if event.get("type") == "DELETED":
            _runtime(memo).queue_gone(body)
        else:
            _runtime(memo).queue_seen(_snapshot(body))

    @kopf.on.resume(*_QUEUES, registry=registry)
    @kopf.on.create(*_QUEUES, registry=registry)
    @kopf.on.update(*_QUEUES, field="spec", registry=registry)
    async def reconcile_queue(body: kopf.Body, reason: str, memo: Any, **_: Any) -> None:
        """Bring the children and status in line with the spec."""
        try:
            await _runtime(memo).reconcile(_snapshot(body), trigger=str(reason))
        except (ApplyFailedError, KubeError) as error:
            raise kopf.TemporaryError(str(error), delay=_RETRY_SECONDS) from error

    @kopf.timer(
        *_QUEUES,
        interval=config.sync_interval_seconds,
        initial_delay=min(config.sync_interval_seconds, 5.0),
        registry=registry,
    )
    async def sync_queue(body: kopf.Body, memo: Any, logger: kopf.Logger, **_: Any) -> None:
        """Read the live backlog, then repair drift and refresh status (level-triggered)."""
        runtime = _runtime(memo)
        snapshot = _snapshot(body)
        await runtime.refresh_backlog(snapshot)
        try:
            await runtime.reconcile(snapshot, trigger="timer")
        except (ApplyFailedError, KubeError) as error:
            logger.warning("periodic reconcile failed; retrying next interval: %s", error)

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
            _runtime(memo).child_seen(event.get("type"), event.get("object") or {})

    @kopf.on.event(
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        when=lambda name, **_: name in _WATCHED_CRDS,
        registry=registry,
    )
    async def crd_event(event: Mapping[str, Any], memo: Any, **_: Any) -> None:
        """KEDA or the Prometheus Operator appearing or leaving changes the children."""
        _runtime(memo).crd_seen(event.get("type"), event.get("object") or {})
