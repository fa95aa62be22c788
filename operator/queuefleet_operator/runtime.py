"""The operator's running state and its reconcile pass: observe → plan → apply → status.

kopf's watches feed the caches here (queues, children, CRDs), so observing costs no API
calls; a pass talks to the API only to apply what drifted, delete what is stale and write a
status that changed.

Passes run from a work queue, as in controller-runtime: a queue waiting for a pass is in it
once however many events arrive meanwhile, a fixed number of workers take passes from it
(so at most one pass per queue at a time), and each worker has its own thread for the
blocking API calls. One operator-wide loop re-reads every queue's backlog and re-queues it
each sync interval; no per-object kopf timer, so kopf needs no finalizer on WorkflowQueues.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

from . import constants
from .backlog import BacklogQuery, BacklogReader, TLSMaterial, supersedes
from .config import OperatorConfig
from .kube import KubeApi, KubeError
from .metrics import OperatorMetrics
from .observed import (
    BacklogReading,
    ChildSnapshot,
    Observed,
    TemporalCheck,
    child_snapshot,
    controller_owner,
)
from .planner import Event, Plan, plan_from_body, with_apply_failure
from .spec import SpecError, WorkflowQueueSpec, parse_spec

__all__ = ["QueueKey", "Runtime"]

QueueKey = tuple[str, str]  # (namespace, name)
log = logging.getLogger("queuefleet.operator")
_T = TypeVar("_T")
# A pass that failed is tried again this much later (the status already says why).
_RETRY_SECONDS = 15.0
# Backlog reads in flight at once during a resync (each bounded by the Temporal timeout).
_CONCURRENT_BACKLOG_READS = 16
# A resync queues a pass when the backlog reading changed what the status shows, and
# otherwise only when the queue had no pass for this many sync intervals: watch events
# already report drift, so the unconditional pass is a safety net, not the main path.
_FULL_RESYNC_INTERVALS = 5


class EventSink(Protocol):
    def __call__(self, body: Mapping[str, Any], event: Event) -> None: ...


@dataclass
class _QueueState:
    body: Mapping[str, Any] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    applied_generations: dict[str, int] = field(default_factory=dict)
    temporal: TemporalCheck | None = None
    last_reading: BacklogReading | None = None
    written_status: Mapping[str, Any] | None = None
    # The generation the latest pass started from (None: no pass yet), and when (monotonic).
    reconciled_generation: int | None = None
    reconciled_at: float = 0.0


class ApplyFailedError(RuntimeError):
    """Applying a plan failed; the status already says so and the pass should be retried."""


class Runtime:
    def __init__(
        self,
        *,
        config: OperatorConfig,
        kube: KubeApi,
        backlog: BacklogReader,
        metrics: OperatorMetrics | None = None,
        post_event: EventSink | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.config = config
        self.kube = kube
        self.backlog = backlog
        self.metrics = metrics or OperatorMetrics(statuses=self.statuses)
        self._post_event = post_event
        self._clock = clock
        self._queues: dict[QueueKey, _QueueState] = {}
        self._children: dict[QueueKey, dict[str, ChildSnapshot]] = {}
        self._crds: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        # The work queue: keys waiting (with why and since when), keys in a pass, keys to
        # queue again when their pass ends, and keys waiting out a delay.
        self._work: asyncio.Queue[QueueKey] | None = None
        self._waiting: dict[QueueKey, tuple[str, float]] = {}
        self._running: set[QueueKey] = set()
        self._again: dict[QueueKey, str] = {}
        self._delayed: set[QueueKey] = set()
        self._reads: asyncio.Semaphore | None = None  # bounds backlog reads in flight
        self._executor = ThreadPoolExecutor(
            max_workers=config.workers, thread_name_prefix="queuefleet-kube"
        )

    # ---- caches fed by watches -----------------------------------------------------------

    def statuses(self) -> Iterator[Mapping[str, Any]]:
        for state in list(self._queues.values()):
            yield state.written_status or state.body.get("status") or {}

    def _state(self, key: QueueKey) -> _QueueState:
        state = self._queues.get(key)
        if state is None:
            state = self._queues[key] = _QueueState()
        return state

    def queue_seen(self, body: Mapping[str, Any]) -> None:
        """Cache the queue; a new generation (or a queue not reconciled yet) gets a pass.

        Our own status writes bump no generation, so they queue nothing.
        """
        metadata = body.get("metadata", {})
        key = (metadata["namespace"], metadata["name"])
        state = self._state(key)
        state.body = body
        if state.reconciled_generation != _generation(body):
            new = state.reconciled_generation is None
            self.enqueue(key, trigger="resume" if new and body.get("status") else "spec")
            if new and self._reads is not None:
                # Read the backlog now rather than at the next round of the resync loop,
                # so its first pass already knows whether Temporal is reachable.
                self._spawn(self._resync(key), name="first backlog read")

    def queue_gone(self, body: Mapping[str, Any]) -> None:
        metadata = body.get("metadata", {})
        key = (metadata["namespace"], metadata["name"])
        self._queues.pop(key, None)
        task_queue = str((body.get("spec") or {}).get("taskQueue", ""))
        self.metrics.forget_queue(key[0], key[1], task_queue)

    def child_seen(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        """Record a child's latest state; a deleted or hand-edited child gets repaired.

        An event that changes nothing the planner sees (a PodDisruptionBudget's status, an
        echo of our own apply) queues no pass.
        """
        owner = controller_owner(body)
        if owner is None:
            return
        snapshot = child_snapshot(body)
        key = (snapshot.namespace, owner[1])
        children = self._children.setdefault(key, {})
        if event_type == "DELETED":
            if children.get(snapshot.kind, snapshot).name == snapshot.name:
                children.pop(snapshot.kind, None)
            if not children:
                self._children.pop(key, None)
            drifted = True
            changed = True
        else:
            changed = children.get(snapshot.kind) != snapshot
            children[snapshot.kind] = snapshot
            applied = self._queues.get(key, _QueueState()).applied_generations.get(snapshot.kind)
            drifted = applied is not None and applied != snapshot.generation
        state = self._queues.get(key)
        if state is not None and state.body and (drifted or (event_type and changed)):
            # Status follows the children too (readiness), so a change schedules a pass.
            trigger = "child-deleted" if event_type == "DELETED" else "child"
            self.enqueue_later(key, trigger=trigger, delay=self.config.debounce_seconds)

    def crd_seen(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        name = str(body.get("metadata", {}).get("name", ""))
        conditions = (body.get("status") or {}).get("conditions") or []
        established = any(
            c.get("type") == "Established" and c.get("status") == "True" for c in conditions
        )
        present = event_type != "DELETED" and established
        if present == (name in self._crds):
            return
        (self._crds.add if present else self._crds.discard)(name)
        log.info("CRD %s is %s; reconciling every queue", name, "served" if present else "gone")
        for key in list(self._queues):
            self.enqueue(key, trigger="crd")

    def prime(self) -> None:
        """Learn which CRDs exist and which children are there before the first pass.

        Blocking; run once at startup. Without it the first passes would mistake
        "not seen yet" for "missing" (KEDA treated as absent, children as deleted).
        """
        for name in (
            constants.KEDA_SCALEDOBJECTS_CRD,
            constants.KEDA_TRIGGERAUTHENTICATIONS_CRD,
            constants.PODMONITORS_CRD,
        ):
            if self.kube.crd_established(name):
                self._crds.add(name)
        selector = f"{constants.LABEL_MANAGED_BY}={constants.MANAGED_BY}"
        for kind in constants.CHILD_KINDS:
            if kind.group == "keda.sh" and not self.keda_installed:
                continue
            if kind is constants.POD_MONITOR and constants.PODMONITORS_CRD not in self._crds:
                continue
            for namespace in self.config.namespaces or (None,):
                for body in self.kube.list_children(
                    kind, label_selector=selector, namespace=namespace
                ):
                    self._record_child(body)

    def _record_child(self, body: Mapping[str, Any]) -> None:
        owner = controller_owner(body)
        if owner is not None:
            snapshot = child_snapshot(body)
            self._children.setdefault((snapshot.namespace, owner[1]), {})[snapshot.kind] = snapshot

    @property
    def keda_installed(self) -> bool:
        return {constants.KEDA_SCALEDOBJECTS_CRD, constants.KEDA_TRIGGERAUTHENTICATIONS_CRD} <= (
            self._crds
        )

    # ---- the reconcile pass ----------------------------------------------------------------

    def start(self) -> None:
        """Start the workers and the resync loop on the running event loop (once)."""
        if self._work is not None:
            return
        self._work = asyncio.Queue()
        self._reads = asyncio.Semaphore(_CONCURRENT_BACKLOG_READS)
        for index in range(self.config.workers):
            self._spawn(self._worker(), name=f"reconcile worker {index}")
        self._spawn(self._resync_forever(), name="resync")
        for key in self._waiting:  # queued before the workers existed
            self._work.put_nowait(key)

    def _spawn(self, coroutine: Any, *, name: str) -> None:
        task = asyncio.get_running_loop().create_task(coroutine, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def pending(self) -> dict[QueueKey, str]:
        """Queues waiting for a pass, with what asked for it."""
        return {key: trigger for key, (trigger, _) in self._waiting.items()}

    def enqueue(self, key: QueueKey, *, trigger: str) -> None:
        """Ask for a pass over `key`; a queue already waiting is not queued twice."""
        if key in self._waiting:
            return
        if key in self._running:
            self._again.setdefault(key, trigger)  # after the current pass: it may be stale
            return
        self._waiting[key] = (trigger, time.perf_counter())
        if self._work is not None:
            self._work.put_nowait(key)

    def enqueue_later(self, key: QueueKey, *, trigger: str, delay: float) -> None:
        """Queue `key` after `delay`; events meanwhile share that one pass (debounce)."""
        if key in self._delayed or key in self._waiting:
            return
        self._delayed.add(key)

        def due() -> None:
            self._delayed.discard(key)
            self.enqueue(key, trigger=trigger)

        asyncio.get_running_loop().call_later(delay, due)

    async def _worker(self) -> None:
        assert self._work is not None
        while True:
            key = await self._work.get()
            trigger, queued_at = self._waiting.pop(key)
            state = self._queues.get(key)
            if state is None or not state.body:
                continue  # deleted while waiting
            self.metrics.queue_wait_seconds.observe(time.perf_counter() - queued_at)
            self._running.add(key)
            try:
                await self.reconcile(state.body, trigger=trigger)
            except (ApplyFailedError, KubeError) as error:
                log.warning("reconcile of %s/%s failed; retrying: %s", *key, error)
                self.enqueue_later(key, trigger="retry", delay=_RETRY_SECONDS)
            except Exception:
                log.exception("reconcile of %s/%s after a %s event failed", *key, trigger)
                self.enqueue_later(key, trigger="retry", delay=_RETRY_SECONDS)
            finally:
                self._running.discard(key)
                again = self._again.pop(key, None)
                if again is not None:
                    self.enqueue(key, trigger=again)

    async def _resync_forever(self) -> None:
        """Each sync interval: read every queue's backlog; queue a pass when that changed
        the status, or when the queue's last pass is `_FULL_RESYNC_INTERVALS` old.

        The reads are spread evenly over the interval (what jitter is for), so Temporal and
        the API server see a steady trickle rather than a burst per interval.
        Level-triggered: drift no event reported is repaired by the periodic full pass.
        """
        interval = self.config.sync_interval_seconds
        loop = asyncio.get_running_loop()
        await asyncio.sleep(min(interval, 5.0))
        while True:
            started = loop.time()
            keys = list(self._queues)
            spacing = interval / max(len(keys), 1)
            for key in keys:
                if key in self._queues:
                    self._spawn(self._resync(key), name="resync queue")
                await asyncio.sleep(spacing)
            await asyncio.sleep(max(0.0, started + interval - loop.time()))

    async def _resync(self, key: QueueKey) -> None:
        """Read one queue's backlog; queue a pass if that changed its status, or if due."""
        assert self._reads is not None
        async with self._reads:
            state = self._queues.get(key)
            if state is None or not state.body:
                return
            shown = _temporal_view(state)
            await self.refresh_backlog(state.body)
        full_every = self.config.sync_interval_seconds * _FULL_RESYNC_INTERVALS
        if time.monotonic() - state.reconciled_at >= full_every or _temporal_view(state) != shown:
            self.enqueue(key, trigger="timer")

    async def _blocking(self, function: Callable[..., _T], *args: Any) -> _T:
        """Run a blocking API call on the operator's own threads (one per worker)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(function, *args))

    def observe(self, key: QueueKey, state: _QueueState) -> Observed:
        return Observed(
            now=self._clock(),
            children=dict(self._children.get(key, {})),
            applied_generations=dict(state.applied_generations),
            keda_installed=self.keda_installed,
            prometheus_operator_installed=constants.PODMONITORS_CRD in self._crds,
            temporal=state.temporal,
            last_reading=state.last_reading,
            previous_status=state.written_status or state.body.get("status") or {},
        )

    async def reconcile(self, body: Mapping[str, Any], *, trigger: str) -> Plan:
        metadata = body.get("metadata", {})
        key = (str(metadata["namespace"]), str(metadata["name"]))
        state = self._state(key)
        if not state.body or _generation(body) >= _generation(state.body):
            state.body = body
        state.reconciled_generation = _generation(state.body)
        state.reconciled_at = time.monotonic()
        started = time.perf_counter()
        result = "ok"
        try:
            async with state.lock:
                return await self._reconcile_locked(key, state)
        except ApplyFailedError:
            result = "apply-failed"
            raise
        except Exception:
            result = "error"
            raise
        finally:
            self.metrics.reconciles.labels(trigger=trigger, result=result).inc()
            self.metrics.reconcile_seconds.observe(time.perf_counter() - started)

    async def _reconcile_locked(self, key: QueueKey, state: _QueueState) -> Plan:
        body = state.body
        observed = self.observe(key, state)
        queue, plan = plan_from_body(body, self.config, observed)
        status = dict(plan.status)
        failure: str | None = None
        if plan.hand_over or plan.apply or plan.delete:
            failure = await self._blocking(self._execute, key, state, plan)
            if failure is not None:
                status = with_apply_failure(
                    status, failure, generation=queue.generation, now=observed.now
                )
        if status != (state.written_status or body.get("status")):
            try:
                written = await self._blocking(
                    self.kube.patch_status, queue.namespace, queue.name, status
                )
            except KubeError:
                self.metrics.errors.labels(operation="status").inc()
                raise
            if written:
                state.written_status = status
        for event in plan.events:
            self._emit(body, event)
        if failure is not None:
            self._emit(body, Event(type="Warning", reason="ApplyFailed", message=failure))
            raise ApplyFailedError(failure)
        return plan

    def _execute(self, key: QueueKey, state: _QueueState, plan: Plan) -> str | None:
        """Apply and delete as planned (blocking); the first failure's message, if any."""
        children = self._children.setdefault(key, {})
        for manifest in plan.hand_over:
            try:
                self.kube.apply(manifest, field_manager=constants.REPLICAS_HANDOFF_MANAGER)
            except KubeError as error:
                self.metrics.errors.labels(operation="hand-over").inc()
                name = manifest["metadata"]["name"]
                return f"handing over {manifest['kind']} {name}'s replicas failed: {error}"
        for manifest in plan.apply:
            kind = str(manifest["kind"])
            try:
                live = self.kube.apply(manifest)
            except KubeError as error:
                self.metrics.errors.labels(operation=f"apply-{kind}").inc()
                return f"applying {kind} {manifest['metadata']['name']} failed: {error}"
            self.metrics.applies.labels(kind=kind).inc()
            snapshot = child_snapshot(live)
            state.applied_generations[kind] = snapshot.generation
            previous = children.get(kind)
            # Keep the watched status (the apply response has it too, but may be older).
            children[kind] = (
                snapshot
                if previous is None
                else replace(
                    snapshot,
                    deployment=snapshot.deployment or previous.deployment,
                    scaled_object=snapshot.scaled_object or previous.scaled_object,
                )
            )
        for ref in plan.delete:
            try:
                self.kube.delete(constants.KINDS_BY_NAME[ref.kind], key[0], ref.name)
            except KubeError as error:
                self.metrics.errors.labels(operation=f"delete-{ref.kind}").inc()
                return f"deleting {ref.kind} {ref.name} failed: {error}"
            children.pop(ref.kind, None)
            state.applied_generations.pop(ref.kind, None)
        return None

    def _emit(self, body: Mapping[str, Any], event: Event) -> None:
        if self._post_event is not None:
            self._post_event(body, event)

    # ---- the live backlog ------------------------------------------------------------------

    async def refresh_backlog(self, body: Mapping[str, Any]) -> None:
        """Read the backlog once (bounded), record it, and export it; never raises."""
        metadata = body.get("metadata", {})
        key = (str(metadata["namespace"]), str(metadata["name"]))
        try:
            spec = parse_spec(body.get("spec") or {})
        except SpecError:
            return  # the reconcile pass reports the spec problem
        state = self._queues.get(key)
        if state is None:
            return  # deleted meanwhile
        now = self._clock()
        try:
            query = await self._query(key[0], spec)
        except KubeError as error:
            self.metrics.errors.labels(operation="secret").inc()
            state.temporal = TemporalCheck(
                reachable=False,
                checked_at=now,
                error=f"cannot read the credentials Secret: {error}",
                secret_problem=True,
            )
            return
        if query is None:
            return
        try:
            reading = await self.backlog.read(query)
        except Exception as error:  # any failure means "unreachable"; reconciliation goes on
            self.metrics.errors.labels(operation="backlog").inc()
            detail = str(error) or type(error).__name__
            state.temporal = TemporalCheck(
                reachable=False,
                checked_at=now,
                error=f"DescribeTaskQueue {query.task_queue!r} at {query.address} failed: {detail}",
            )
            return
        state.temporal = TemporalCheck(reachable=True, checked_at=now, reading=reading)
        max_age = timedelta(seconds=self.config.sync_interval_seconds * 10)
        if supersedes(reading, state.last_reading, max_age=max_age):
            state.last_reading = reading
        labels = (key[0], key[1], spec.task_queue)
        self.metrics.backlog.labels(*labels).set(reading.approximate_count)
        self.metrics.backlog_age.labels(*labels).set(reading.approximate_age_seconds)

    async def _query(self, namespace: str, spec: WorkflowQueueSpec) -> BacklogQuery | None:
        address = spec.temporal.address or self.config.temporal_address
        if not address:
            return None
        tls: TLSMaterial | None = None
        temporal = spec.temporal
        if temporal.tls is not None and temporal.tls.enabled:
            cert = key = ca = None
            if temporal.tls.secret_name is not None:
                name = temporal.tls.secret_name
                cert = await self._blocking(self.kube.read_secret_value, namespace, name, "tls.crt")
                key = await self._blocking(self.kube.read_secret_value, namespace, name, "tls.key")
                if temporal.tls.ca_key is not None:
                    ca = await self._blocking(
                        self.kube.read_secret_value, namespace, name, temporal.tls.ca_key
                    )
            tls = TLSMaterial(
                client_cert=cert, client_key=key, server_ca=ca, server_name=temporal.tls.server_name
            )
        if tls is None and temporal.tls_enabled:
            tls = TLSMaterial()  # an API key implies TLS, with the system's trust roots
        api_key = None
        if temporal.api_key_secret is not None:
            raw = await self._blocking(
                self.kube.read_secret_value,
                namespace,
                temporal.api_key_secret.name,
                temporal.api_key_secret.key,
            )
            api_key = raw.decode().strip()
        return BacklogQuery(
            address=address,
            namespace=temporal.namespace or self.config.temporal_namespace,
            task_queue=spec.task_queue,
            queue_types=spec.scaling.queue_types,
            tls=tls,
            api_key=api_key,
        )

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        self.backlog.forget_all()
        await self._blocking(self.kube.close)
        self._executor.shutdown(wait=False, cancel_futures=True)


def _temporal_view(state: _QueueState) -> tuple[Any, ...]:
    """What of the latest backlog read reaches the status (see planner: TemporalReachable)."""
    check = state.temporal
    seen = (
        (check.reachable, check.reading is not None, check.secret_problem, check.error)
        if (check is not None)
        else None
    )
    return (seen, state.last_reading)


def _generation(body: Mapping[str, Any]) -> int:
    return int(body.get("metadata", {}).get("generation") or 0)
