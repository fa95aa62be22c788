"""One reconcile pass over one WorkflowQueue: observe → plan → execute → write status.

`Reconciler.reconcile` is that thin sequence; the parts are `observe` (the cache, no API
reads), `planner.plan` (pure), `execute` (server-side apply and delete, blocking) and one
status write when the status changed. A pass stops before any write once the operator is no
longer the active replica (`is_active`), so a paused replica writes nothing.

When the cache changed during the pass (our applies' responses, a first backlog read,
KEDA's Ready), the status is planned again from it after the applies: the status then says
what the pass left, and what it recorded as seen is what its status was computed from.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any, Protocol, TypeVar

from . import constants
from .cache import Cache, QueueKey, QueueState, generation
from .config import OperatorConfig
from .connection import Refusal, resolve
from .drift import fingerprint
from .genstatus import invalid_status, transition_events, with_apply_failure
from .kube import KubeApi, KubeError
from .metrics import OperatorMetrics
from .observed import Applied, Observed, child_snapshot
from .planner import plan, plan_from_body
from .plantypes import Event, Plan
from .spec import QueueIdentity, SpecError, parse_spec

__all__ = ["ApplyFailedError", "NotActiveError", "Reconciler"]

log = logging.getLogger("queuefleet.operator")
_T = TypeVar("_T")


class EventSink(Protocol):
    def __call__(self, body: Mapping[str, Any], event: Event) -> None: ...


class Blocking(Protocol):
    """Runs a blocking API call off the event loop."""

    def __call__(
        self, function: Callable[..., _T], /, *args: Any, **kwargs: Any
    ) -> Awaitable[_T]: ...


class ApplyFailedError(RuntimeError):
    """Applying a plan failed; the status already says so and the pass should be retried."""


class NotActiveError(RuntimeError):
    """The operator was paused (another replica is active) mid-pass; nothing more written."""


class Reconciler:
    def __init__(
        self,
        *,
        config: OperatorConfig,
        kube: KubeApi,
        cache: Cache,
        metrics: OperatorMetrics,
        blocking: Blocking,
        is_active: Callable[[], bool] = lambda: True,
        post_event: EventSink | None = None,
        first_read: Callable[[QueueKey], Awaitable[None]] | None = None,
        clock: Callable[[], datetime],
    ) -> None:
        """`first_read`: waits, bounded, for a new queue's first backlog read in flight."""
        self._config = config
        self._first_read = first_read
        self._kube = kube
        self._cache = cache
        self._metrics = metrics
        self._blocking = blocking
        self._is_active = is_active
        self._post_event = post_event
        self._clock = clock

    async def reconcile(self, key: QueueKey, *, trigger: str) -> Plan | None:
        """One pass; None when the queue is gone. Raises ApplyFailedError, NotActiveError."""
        state = self._cache.queue(key)
        if state is None:
            return None
        state.reconciled_generation = generation(state.body)
        state.reconciled_at = time.monotonic()
        started = time.perf_counter()
        result = "ok"
        try:
            body = state.body
            inputs = self._cache.pass_inputs(key)
            self._cache.forget_pass(key)
            observed = self.observe(key, state)
            queue, planned = self.plan(body, observed)
            self._cache.record_verified(key, planned.verified)
            failure = await self._execute(key, planned)
            if failure is not None:
                status = with_apply_failure(
                    planned.status, failure, generation=queue.generation, now=observed.now
                )
                await self._write_status(key, state, status)
                for event in planned.events:
                    self._emit(body, event)
                self._emit(body, Event(type="Warning", reason="ApplyFailed", message=failure))
                raise ApplyFailedError(failure)
            if planned.has_work and self._first_read is not None:
                await self._first_read(key)  # read beside the applies, reported with them
            left = self._cache.pass_inputs(key)
            final = planned
            if left != inputs:
                _, final = self.plan(body, self.observe(key, state))
            await self._write_status(key, state, final.status)
            if left is not None and not final.has_work:
                # Work still to do (a child changed during the pass) stays news.
                self._cache.mark_seen_by_pass(key, replace(left, status=final.status))
            for event in planned.changes + final.transitions:
                self._emit(body, event)
            return planned
        except ApplyFailedError:
            result = "apply-failed"
            raise
        except NotActiveError:
            result = "paused"
            raise
        except Exception:
            result = "error"
            raise
        finally:
            self._metrics.reconciles.labels(trigger=trigger, result=result).inc()
            self._metrics.reconcile_seconds.observe(time.perf_counter() - started)

    def plan(self, body: Mapping[str, Any], observed: Observed) -> tuple[QueueIdentity, Plan]:
        """The planner's plan for the queue's spec with its TemporalConnection resolved; a
        spec.temporal the queue may not use leaves the children alone and says why."""
        try:
            spec = parse_spec(body.get("spec") or {})
        except SpecError:
            return plan_from_body(body, self._config, observed)  # reports the spec error
        queue = QueueIdentity.of(body)
        resolved = resolve(queue.namespace, spec, self._cache.connection, self._config)
        if isinstance(resolved, Refusal):
            status = invalid_status(queue, observed, resolved.message, reason=resolved.reason)
            events = transition_events(observed.previous_status, status)
            return queue, Plan(status=status, transitions=tuple(events))
        return queue, plan(queue, resolved, self._config, observed)

    def observe(self, key: QueueKey, state: QueueState) -> Observed:
        return Observed(
            now=self._clock(),
            children=self._cache.children(key),
            applied=dict(state.applied),
            keda_installed=self._cache.keda_installed,
            prometheus_operator_installed=self._cache.prometheus_operator_installed,
            temporal=state.temporal,
            last_reading=state.last_reading,
            previous_status=state.status,
            worker_failure=self._cache.worker_failure(key),
        )

    def _check_active(self) -> None:
        if not self._is_active():
            raise NotActiveError("paused: another operator replica is active")

    async def _execute(self, key: QueueKey, plan: Plan) -> str | None:
        """Hand over, apply and delete as planned, recording the results in the cache; the
        first failure's message, if any."""
        for manifest in plan.hand_over:
            self._check_active()
            try:
                await self._api(
                    "hand-over",
                    self._kube.apply,
                    manifest,
                    field_manager=constants.REPLICAS_HANDOFF_MANAGER,
                )
            except KubeError as error:
                self._metrics.errors.labels(operation="hand-over").inc()
                name = manifest["metadata"]["name"]
                return f"handing over {manifest['kind']} {name}'s replicas failed: {error}"
        for manifest in plan.apply:
            self._check_active()
            kind = str(manifest["kind"])
            try:
                live = await self._api("apply", self._kube.apply, manifest)
            except KubeError as error:
                self._metrics.errors.labels(operation=f"apply-{kind}").inc()
                return f"applying {kind} {manifest['metadata']['name']} failed: {error}"
            self._metrics.applies.labels(kind=kind).inc()
            if kind in plan.drifted:
                self._metrics.drift_repairs.labels(kind=kind).inc()
            config_hash = manifest["metadata"]["annotations"][constants.CONFIG_HASH_ANNOTATION]
            applied = Applied(config_hash=config_hash, fingerprint=fingerprint(live, manifest))
            self._cache.record_applied(key, child_snapshot(live), applied)
        for ref in plan.delete:
            self._check_active()
            try:
                await self._api(
                    "delete", self._kube.delete, constants.KINDS_BY_NAME[ref.kind], key[0], ref.name
                )
            except KubeError as error:
                self._metrics.errors.labels(operation=f"delete-{ref.kind}").inc()
                return f"deleting {ref.kind} {ref.name} failed: {error}"
            self._cache.record_deleted(key, ref.kind)
        return None

    async def _write_status(
        self, key: QueueKey, state: QueueState, status: Mapping[str, Any]
    ) -> None:
        if status == state.status:
            return
        self._check_active()
        # Guarded by the resourceVersion we planned from: a status computed from a stale
        # view (another replica wrote meanwhile) is refused, never written over a newer one.
        version = str(state.body.get("metadata", {}).get("resourceVersion") or "")
        try:
            written = await self._api(
                "status", self._kube.patch_status, key[0], key[1], status, version or None
            )
        except KubeError:
            self._metrics.errors.labels(operation="status").inc()
            raise
        if written is not None:
            self._metrics.status_writes.inc()
            state.written_status = status
            new_version = written.get("metadata", {}).get("resourceVersion")
            if new_version and state.body:
                metadata = {**state.body.get("metadata", {}), "resourceVersion": new_version}
                state.body = {**state.body, "metadata": metadata}

    async def _api(
        self, operation: str, function: Callable[..., _T], /, *args: Any, **kwargs: Any
    ) -> _T:
        """A blocking API call off the event loop, timed (the wait for a thread included)."""
        started = time.perf_counter()
        try:
            return await self._blocking(function, *args, **kwargs)
        finally:
            self._metrics.api_seconds.labels(operation=operation).observe(
                time.perf_counter() - started
            )

    def _emit(self, body: Mapping[str, Any], event: Event) -> None:
        if self._post_event is not None and self._is_active():
            self._post_event(body, event)
