"""The status of one WorkflowQueue, computed from what was observed. Pure, no I/O.

Ready means the workers serve and scaling is in force: the Deployment is Available, and
either KEDA accepted the ScaledObject (its Ready condition is True) or KEDA's API is absent
and the documented fixed-size fleet runs (reason FixedReplicas). TemporalReachable is
reported but never blocks Ready: workers reconnect by themselves, and a node drain must not
wait for Temporal (see the PodDisruptionBudget's eviction policy).

When workers do not run for a reason only the cluster knows (a pod the API server refused,
a container that crash-loops or cannot pull its image), the status names the spec field it
points at (see `fieldhint`) and the reason, not only "workers unavailable".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from . import constants
from . import manifests as m
from .conditions import (
    AUTOSCALER_READY,
    AVAILABLE,
    READY,
    TEMPORAL_REACHABLE,
    ConditionState,
    Reason,
    by_type,
    timestamp,
    to_status,
)
from .fieldhint import field_for
from .observed import BacklogReading, ChildSnapshot, Observed
from .plantypes import Event
from .spec import QueueIdentity, WorkflowQueueSpec

__all__ = [
    "autoscaler",
    "available",
    "backlog_status",
    "invalid_status",
    "queue_status",
    "temporal_reachable",
    "transition_events",
    "with_apply_failure",
]

Manifest = dict[str, Any]


def queue_status(
    queue: QueueIdentity,
    spec: WorkflowQueueSpec,
    observed: Observed,
    desired: Mapping[str, Manifest],
) -> dict[str, Any]:
    deployment = observed.children.get(constants.DEPLOYMENT.kind)
    workers = available(deployment, spec)
    scaling = autoscaler(spec, observed)
    states = {
        READY: _ready(spec, observed, workers, scaling),
        AVAILABLE: workers,
        AUTOSCALER_READY: scaling,
        TEMPORAL_REACHABLE: temporal_reachable(observed),
    }
    previous = by_type(observed.previous_status)
    state = deployment.deployment if deployment is not None else None
    status: dict[str, Any] = {
        "observedGeneration": queue.generation,
        "replicas": state.replicas if state else 0,
        "readyReplicas": state.ready_replicas if state else 0,
        "desiredReplicas": state.desired_replicas if state else 0,
        "children": _children_status(queue, desired, observed),
        "conditions": [
            to_status(kind, value, generation=queue.generation, previous=previous, now=observed.now)
            for kind, value in states.items()
        ],
    }
    reading = observed.last_reading
    if reading is not None:
        status["backlog"] = backlog_status(reading)
    elif "backlog" in observed.previous_status:
        status["backlog"] = observed.previous_status["backlog"]
    return status


def _ready(
    spec: WorkflowQueueSpec,
    observed: Observed,
    workers: ConditionState,
    scaling: ConditionState,
) -> ConditionState:
    if spec.paused:
        return ConditionState(
            "False",
            Reason.PAUSED,
            "reconciliation is paused (spec.paused); children are left as they are",
        )
    failure = observed.worker_failure
    if not workers.true and failure is not None:
        field = field_for(failure.message, spec, reason=failure.reason)
        where = f"{field}: " if field else ""
        return ConditionState(
            "False",
            Reason.WORKERS_FAILING,
            f"{where}worker pod {failure.pod}: {failure.reason}: {failure.message}".strip(": "),
        )
    if not workers.true:
        return ConditionState("False", Reason.WORKERS_UNAVAILABLE, workers.message)
    if not observed.keda_installed:
        replicas = max(spec.scaling.min_replicas, 1)
        return ConditionState(
            "True",
            Reason.FIXED_REPLICAS,
            f"workers are available; KEDA is not installed, so a fixed {replicas} worker(s) "
            "run until it is",
        )
    if not scaling.true:
        return ConditionState("False", Reason.AUTOSCALER_NOT_READY, scaling.message)
    return ConditionState(
        "True", Reason.RECONCILED, "workers are available and KEDA scales them on the backlog"
    )


def backlog_status(reading: BacklogReading) -> dict[str, Any]:
    return {
        "approximateCount": reading.approximate_count,
        "approximateAgeSeconds": round(reading.approximate_age_seconds, 3),
        "addRate": round(reading.add_rate, 3),
        "dispatchRate": round(reading.dispatch_rate, 3),
        "observedAt": timestamp(reading.observed_at),
    }


def _children_status(
    queue: QueueIdentity, desired: Mapping[str, Manifest], observed: Observed
) -> dict[str, str]:
    names = m.child_names(queue.name)
    by_kind = {
        constants.DEPLOYMENT.kind: ("deployment", names.deployment),
        constants.SCALED_OBJECT.kind: ("scaledObject", names.scaled_object),
        constants.TRIGGER_AUTHENTICATION.kind: (
            "triggerAuthentication",
            names.trigger_authentication,
        ),
        constants.POD_DISRUPTION_BUDGET.kind: ("podDisruptionBudget", names.pod_disruption_budget),
        constants.POD_MONITOR.kind: ("podMonitor", names.pod_monitor),
    }
    present = set(desired) or set(observed.children)
    return {field_name: name for kind, (field_name, name) in by_kind.items() if kind in present}


def available(deployment: ChildSnapshot | None, spec: WorkflowQueueSpec) -> ConditionState:
    if deployment is None or deployment.deployment is None:
        return ConditionState(
            "False", Reason.DEPLOYMENT_PENDING, "the worker Deployment does not exist yet"
        )
    state = deployment.deployment
    name = deployment.name
    progress = f"{state.ready_replicas}/{state.desired_replicas} workers ready"
    refused = state.replica_failure
    if refused is not None and refused.status == "True":
        field = field_for(refused.message, spec)
        where = f"{field}: " if field else ""
        return ConditionState(
            "False",
            Reason.PODS_REJECTED,
            f"{where}worker pods of Deployment {name} cannot be created: {refused.message}",
        )
    if state.progressing is not None and state.progressing.reason == "ProgressDeadlineExceeded":
        return ConditionState(
            "False",
            Reason.ROLLOUT_STALLED,
            f"Deployment {name} rollout stalled: {state.progressing.message} ({progress})",
        )
    if state.observed_generation < state.generation or state.available is None:
        return ConditionState(
            "Unknown",
            Reason.ROLLOUT_IN_PROGRESS,
            f"waiting for the Deployment controller to act on {name} ({progress})",
        )
    if state.desired_replicas == 0:
        return ConditionState("True", Reason.SCALED_TO_ZERO, f"Deployment {name} is scaled to zero")
    if state.available.status == "True":
        return ConditionState("True", Reason.WORKERS_AVAILABLE, f"Deployment {name}: {progress}")
    return ConditionState(
        "False",
        Reason.MINIMUM_REPLICAS_UNAVAILABLE,
        f"Deployment {name}: {progress}; {state.available.message}".rstrip("; "),
    )


def autoscaler(spec: WorkflowQueueSpec, observed: Observed) -> ConditionState:
    if not observed.keda_installed:
        replicas = max(spec.scaling.min_replicas, 1)
        return ConditionState(
            "False",
            Reason.KEDA_NOT_INSTALLED,
            f"KEDA's CRD {constants.KEDA_SCALEDOBJECTS_CRD} is not installed; running a fixed "
            f"{replicas} worker(s) until it is",
        )
    child = observed.children.get(constants.SCALED_OBJECT.kind)
    if child is None or child.scaled_object is None:
        return ConditionState(
            "Unknown", Reason.SCALED_OBJECT_PENDING, "the ScaledObject does not exist yet"
        )
    ready = child.scaled_object.ready
    if ready is None or ready.status == "Unknown":
        return ConditionState(
            "Unknown",
            Reason.SCALED_OBJECT_PENDING,
            f"waiting for KEDA to accept ScaledObject {child.name} (its Ready condition)",
        )
    if ready.status == "True":
        return ConditionState(
            "True", Reason.SCALED_OBJECT_READY, f"ScaledObject {child.name} is ready"
        )
    detail = ready.message or ready.reason or "not ready"
    return ConditionState(
        "False", Reason.SCALED_OBJECT_NOT_READY, f"ScaledObject {child.name}: {detail}"
    )


def temporal_reachable(observed: Observed) -> ConditionState:
    check = observed.temporal
    if check is None:
        return ConditionState(
            "Unknown", Reason.NOT_CHECKED_YET, "the backlog has not been read yet"
        )
    if check.reachable and check.reading is not None:
        # No timestamp here (status.backlog.observedAt has it): an unchanged message
        # keeps an unchanged status from being rewritten.
        return ConditionState("True", Reason.BACKLOG_READ, "the backlog was read from Temporal")
    reason = Reason.SECRET_UNAVAILABLE if check.secret_problem else Reason.TEMPORAL_UNREACHABLE
    return ConditionState("False", reason, check.error or "the backlog could not be read")


def transition_events(previous_status: Mapping[str, Any], status: Mapping[str, Any]) -> list[Event]:
    """An event when Ready changes status or reason, and a Warning when AutoscalerReady
    turns False: that one can be hidden behind a Ready that is False for another reason.
    AutoscalerReady turning True is not posted on its own; the Ready event that follows
    says it (each Event is an API write, and a new queue would post two for one news)."""
    before = by_type(previous_status)
    events = []
    for now in status["conditions"]:
        if now["type"] not in (READY, AUTOSCALER_READY):
            continue
        if now["type"] == AUTOSCALER_READY and now["status"] != "False":
            continue
        was = before.get(now["type"])
        if was is not None and (was.get("status"), was.get("reason")) == (
            now["status"],
            now["reason"],
        ):
            continue
        if now["status"] == "Unknown":
            continue
        if was is None and now["reason"] in (
            Reason.WORKERS_UNAVAILABLE,
            Reason.AUTOSCALER_NOT_READY,
        ):
            continue  # a new queue waiting for its first workers is not news
        events.append(
            Event(
                type="Normal" if now["status"] == "True" else "Warning",
                reason=now["reason"],
                message=f"{now['type']}={now['status']}: {now['message']}",
            )
        )
    return events


def invalid_status(
    queue: QueueIdentity, observed: Observed, message: str, *, reason: str = Reason.INVALID_SPEC
) -> dict[str, Any]:
    """Say what is wrong, and keep the other conditions as they were."""
    previous = by_type(observed.previous_status)
    ready = to_status(
        READY,
        ConditionState("False", reason, message),
        generation=queue.generation,
        previous=previous,
        now=observed.now,
    )
    others = [c for kind, c in previous.items() if kind != READY]
    return {
        **observed.previous_status,
        "observedGeneration": queue.generation,
        "conditions": [ready, *(dict(c) for c in others)],
    }


def with_apply_failure(
    status: Mapping[str, Any], error: str, *, generation: int, now: datetime
) -> dict[str, Any]:
    """The planned status, with Ready turned False because applying the plan failed."""
    conditions: Sequence[Mapping[str, Any]] = status.get("conditions") or []
    previous = {str(c["type"]): c for c in conditions}
    ready = to_status(
        READY,
        ConditionState("False", Reason.APPLY_FAILED, error),
        generation=generation,
        previous=previous,
        now=now,
    )
    return {
        **status,
        "conditions": [ready, *(dict(c) for c in conditions if c["type"] != READY)],
    }
