"""What the watches told us: WorkflowQueues, their children, TemporalConnections, which
optional CRDs exist.

Fed by kopf's watch events (and `prime` at startup), read by the reconciler, so observing
costs no API calls. Each method that takes an event says whether it calls for a pass; the
cache itself schedules nothing.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import constants
from .connection import referenced
from .kube import KubeApi, KubeError
from .observed import (
    Applied,
    BacklogReading,
    ChildSnapshot,
    TemporalCheck,
    WorkerFailure,
    child_snapshot,
    controller_owner,
    worker_failure,
)

__all__ = ["Cache", "PassInputs", "QueueKey", "QueueState"]

QueueKey = tuple[str, str]  # (namespace, name)

OPTIONAL_CRDS = (
    constants.KEDA_SCALEDOBJECTS_CRD,
    constants.KEDA_TRIGGERAUTHENTICATIONS_CRD,
    constants.PODMONITORS_CRD,
)


@dataclass(frozen=True)
class PassInputs:
    """What a pass planned from, the clock aside. The planner is pure, so a pass over the
    same inputs would apply nothing and write the same status: it need not run."""

    generation: int
    status: Mapping[str, Any]
    children: Mapping[str, ChildSnapshot]
    applied: Mapping[str, Applied]
    worker_failure: WorkerFailure | None
    optional_crds: frozenset[str]
    connection_spec: Mapping[str, Any] | None
    temporal: tuple[Any, ...]


@dataclass
class QueueState:
    """One WorkflowQueue as cached, plus what the operator did and read for it."""

    body: Mapping[str, Any] = field(default_factory=dict)
    applied: dict[str, Applied] = field(default_factory=dict)
    temporal: TemporalCheck | None = None
    last_reading: BacklogReading | None = None
    written_status: Mapping[str, Any] | None = None
    # The generation the latest pass started from (None: no pass yet), and when (monotonic).
    reconciled_generation: int | None = None
    reconciled_at: float = 0.0
    # The task_queue label the backlog gauges carry for this queue (None: none exported).
    exported_task_queue: str | None = None
    # What the latest successful pass planned from, updated with what it applied and
    # wrote (None: no such pass since the last failure). Child events that only echo it,
    # and a periodic pass that would find the same, are skipped.
    seen_by_pass: PassInputs | None = None

    @property
    def status(self) -> Mapping[str, Any]:
        """The latest status: ours if we wrote one since the last event, else the body's."""
        return self.written_status or self.body.get("status") or {}

    def temporal_view(self) -> tuple[Any, ...]:
        """What of the latest backlog read reaches the status (genstatus: TemporalReachable
        and status.backlog): not when it was read, only what it found."""
        check = self.temporal
        seen = (
            (check.reachable, check.reading is not None, check.secret_problem, check.error)
            if check is not None
            else None
        )
        return (seen, self.last_reading)


def key_of(body: Mapping[str, Any]) -> QueueKey:
    metadata = body.get("metadata", {})
    return (str(metadata["namespace"]), str(metadata["name"]))


def generation(body: Mapping[str, Any]) -> int:
    return int(body.get("metadata", {}).get("generation") or 0)


class Cache:
    def __init__(self) -> None:
        self._queues: dict[QueueKey, QueueState] = {}
        self._children: dict[QueueKey, dict[str, ChildSnapshot]] = {}
        self._crds: set[str] = set()
        # Only worker pods with a failure are kept: a few per broken queue, none when healthy.
        self._pod_failures: dict[QueueKey, dict[str, WorkerFailure]] = {}
        self._connections: dict[QueueKey, Mapping[str, Any]] = {}  # (namespace, name) -> body

    # ---- WorkflowQueues ---------------------------------------------------------------------

    def queue_seen(self, body: Mapping[str, Any]) -> str | None:
        """Cache the queue; the trigger for a pass if it needs one, else None.

        A new generation (or a queue not reconciled yet) needs one; our own status writes
        bump no generation, so their echoes need none.
        """
        key = key_of(body)
        state = self._queues.get(key)
        if state is None:
            state = self._queues[key] = QueueState()
        if state.body and generation(body) < generation(state.body):
            return None  # an older view arriving late
        state.body = body
        state.written_status = None  # the body's status is at least as new now
        if state.reconciled_generation == generation(body):
            return None
        return "resume" if state.reconciled_generation is None and body.get("status") else "spec"

    def queue_gone(self, body: Mapping[str, Any]) -> QueueState | None:
        key = key_of(body)
        self._children.pop(key, None)
        self._pod_failures.pop(key, None)
        return self._queues.pop(key, None)

    def queue(self, key: QueueKey) -> QueueState | None:
        state = self._queues.get(key)
        return state if state is not None and state.body else None

    def queue_keys(self) -> list[QueueKey]:
        return list(self._queues)

    def statuses(self) -> Iterator[Mapping[str, Any]]:
        for state in list(self._queues.values()):
            yield state.status

    # ---- children ---------------------------------------------------------------------------

    def child_seen(self, event_type: str | None, body: Mapping[str, Any]) -> QueueKey | None:
        """Record a child's latest state; the owning queue's key if it needs a pass."""
        owner = controller_owner(body)
        if owner is None:
            return None
        snapshot = child_snapshot(body)
        key = (snapshot.namespace, owner[1])
        children = self._children.setdefault(key, {})
        if event_type == "DELETED":
            if children.get(snapshot.kind, snapshot).name == snapshot.name:
                children.pop(snapshot.kind, None)
            state = self._queues.get(key)
            if state is not None:
                state.applied.pop(snapshot.kind, None)
            if not children:
                self._children.pop(key, None)
            changed = True
        else:
            # An event that changes nothing we look at (a PDB's status, the echo of our own
            # apply) needs no pass; a spec change does, and the planner judges if it is drift.
            # An event older than our apply's response (cached meanwhile) is already known.
            previous = children.get(snapshot.kind)
            if previous is not None and not snapshot.supersedes(previous):
                return None
            changed = previous != snapshot
            children[snapshot.kind] = snapshot
        # A watch's listing (no event type: a watch started or re-listed) counts too: a
        # child that changed while nobody watched it, e.g. KEDA's Ready on a ScaledObject
        # created before its CRD's watch began.
        if not changed or self.queue(key) is None:
            return None
        return key

    def pod_seen(self, event_type: str | None, body: Mapping[str, Any]) -> QueueKey | None:
        """Record whether a worker pod is failing; its queue's key when that changed."""
        metadata = body.get("metadata", {})
        labels = metadata.get("labels") or {}
        if labels.get(constants.LABEL_NAME) != constants.WORKER_APP_NAME:
            return None
        key = (str(metadata.get("namespace", "")), str(labels.get(constants.LABEL_INSTANCE, "")))
        name = str(metadata.get("name", ""))
        failure = None if event_type == "DELETED" else worker_failure(body)
        failures = self._pod_failures.get(key, {})
        if failures.get(name) == failure:
            return None
        if failure is None:
            failures.pop(name, None)
            if not failures:
                self._pod_failures.pop(key, None)
        else:
            self._pod_failures.setdefault(key, {})[name] = failure
        return key if self.queue(key) is not None else None

    def pass_inputs(self, key: QueueKey) -> PassInputs | None:
        """What a pass over `key` would plan from now (None: the queue is not cached)."""
        state = self.queue(key)
        if state is None:
            return None
        connection_name = referenced(state.body)
        connection = self._connections.get((key[0], connection_name)) if connection_name else None
        return PassInputs(
            generation=generation(state.body),
            status=state.status,
            children=self.children(key),
            applied=dict(state.applied),
            worker_failure=self.worker_failure(key),
            optional_crds=frozenset(self._crds),
            connection_spec=connection.get("spec") if connection is not None else None,
            temporal=state.temporal_view(),
        )

    def forget_pass(self, key: QueueKey) -> None:
        """A pass began: until one ends well, nothing counts as seen."""
        state = self._queues.get(key)
        if state is not None:
            state.seen_by_pass = None

    def mark_seen_by_pass(self, key: QueueKey, inputs: PassInputs) -> None:
        """Record what a successful pass planned from: the inputs it observed, with the
        children, applied records and status as it left them. Not the cache as the pass
        ends: an event that came during the pass (KEDA's Ready, a rollout's progress) was
        not seen by it and needs a pass."""
        state = self._queues.get(key)
        if state is not None:
            state.seen_by_pass = inputs

    def unchanged_since_pass(self, key: QueueKey) -> bool:
        """Whether a pass now would plan from what the latest successful pass saw."""
        state = self._queues.get(key)
        if state is None or state.seen_by_pass is None:
            return False
        return state.seen_by_pass == self.pass_inputs(key)

    def temporal_seen_by_pass(self, key: QueueKey) -> bool:
        """Whether the latest successful pass planned from Temporal's latest answer."""
        state = self.queue(key)
        if state is None or state.seen_by_pass is None:
            return False
        return state.seen_by_pass.temporal == state.temporal_view()

    def worker_failure(self, key: QueueKey) -> WorkerFailure | None:
        failures = self._pod_failures.get(key)
        return failures[min(failures)] if failures else None

    def children(self, key: QueueKey) -> dict[str, ChildSnapshot]:
        return dict(self._children.get(key, {}))

    def record_applied(
        self, key: QueueKey, snapshot: ChildSnapshot, applied: Applied
    ) -> ChildSnapshot:
        """After our apply: its response is the child's state unless the watch already
        delivered a newer one (KEDA's Ready written between our apply and its response
        reaching us: keeping the response would lose it, and no later event brings it
        back). Returns the snapshot cached."""
        children = self._children.setdefault(key, {})
        previous = children.get(snapshot.kind)
        if previous is not None and not snapshot.supersedes(previous):
            snapshot = previous  # newer, and it includes our write (revisions only grow)
        children[snapshot.kind] = snapshot
        state = self._queues.get(key)
        if state is not None:
            state.applied[snapshot.kind] = applied
        return snapshot

    def record_verified(self, key: QueueKey, verified: Mapping[str, Applied]) -> None:
        state = self._queues.get(key)
        if state is not None:
            state.applied.update(verified)

    def record_deleted(self, key: QueueKey, kind: str) -> None:
        self._children.get(key, {}).pop(kind, None)
        state = self._queues.get(key)
        if state is not None:
            state.applied.pop(kind, None)

    # ---- TemporalConnections ----------------------------------------------------------------

    def connection_seen(self, event_type: str | None, body: Mapping[str, Any]) -> list[QueueKey]:
        """Record a TemporalConnection; the queues that reference it when its spec changed."""
        key = key_of(body)
        before = self._connections.get(key)
        if event_type == "DELETED":
            self._connections.pop(key, None)
            changed = before is not None
        else:
            self._connections[key] = body
            changed = before is None or before.get("spec") != body.get("spec")
        if not changed:
            return []
        return [
            queue
            for queue, state in self._queues.items()
            if queue[0] == key[0] and state.body and referenced(state.body) == key[1]
        ]

    def connection(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        return self._connections.get((namespace, name))

    # ---- optional CRDs ----------------------------------------------------------------------

    def crd_seen(self, event_type: str | None, body: Mapping[str, Any]) -> bool:
        """Record whether an optional CRD is served; True when that changed."""
        name = str(body.get("metadata", {}).get("name", ""))
        conditions = (body.get("status") or {}).get("conditions") or []
        established = any(
            c.get("type") == "Established" and c.get("status") == "True" for c in conditions
        )
        present = event_type != "DELETED" and established
        if present == (name in self._crds):
            return False
        (self._crds.add if present else self._crds.discard)(name)
        return True

    @property
    def keda_installed(self) -> bool:
        return {constants.KEDA_SCALEDOBJECTS_CRD, constants.KEDA_TRIGGERAUTHENTICATIONS_CRD} <= (
            self._crds
        )

    @property
    def prometheus_operator_installed(self) -> bool:
        return constants.PODMONITORS_CRD in self._crds

    def prime(self, kube: KubeApi, namespaces: tuple[str, ...]) -> None:
        """Learn which CRDs exist and which children are there before the first pass.

        Blocking; run once at startup. Without it the first passes would mistake
        "not seen yet" for "missing" (KEDA treated as absent, children as deleted).
        """
        for name in OPTIONAL_CRDS:
            if kube.crd_established(name):
                self._crds.add(name)
        # Before the first pass, or a queue would briefly report its connection missing.
        for namespace in namespaces or (None,):
            try:
                found = kube.list_children(
                    constants.TEMPORAL_CONNECTION, label_selector="", namespace=namespace
                )
            except KubeError as error:
                if error.status != 404:  # 404: its CRD is not installed (yet)
                    raise
                found = []
            for body in found:
                self._connections[key_of(body)] = body
        selector = f"{constants.LABEL_MANAGED_BY}={constants.MANAGED_BY}"
        for kind in constants.CHILD_KINDS:
            if kind.group == "keda.sh" and not self.keda_installed:
                continue
            if kind is constants.POD_MONITOR and not self.prometheus_operator_installed:
                continue
            for namespace in namespaces or (None,):
                for body in kube.list_children(kind, label_selector=selector, namespace=namespace):
                    owner = controller_owner(body)
                    if owner is not None:
                        snapshot = child_snapshot(body)
                        self._children.setdefault((snapshot.namespace, owner[1]), {})[
                            snapshot.kind
                        ] = snapshot
