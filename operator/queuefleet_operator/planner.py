"""The pure planner: (queue, spec, operator config, observed state) → Plan.

No I/O here. The handlers observe the world, call `plan`, apply what it says and write the
status it computed — once per pass. Everything that decides *what* should exist and *what*
the status says lives in this module, so it is tested table-style without a cluster.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from . import constants
from . import manifests as m
from .config import OperatorConfig
from .constants import Reason
from .observed import BacklogReading, ChildSnapshot, Observed
from .spec import QueueIdentity, SpecError, WorkflowQueueSpec, parse_spec

__all__ = [
    "ChildRef",
    "Event",
    "Plan",
    "condition",
    "plan",
    "plan_from_body",
    "with_apply_failure",
]

Manifest = dict[str, Any]
EventType = Literal["Normal", "Warning"]


@dataclass(frozen=True, kw_only=True)
class ChildRef:
    kind: str
    name: str


@dataclass(frozen=True, kw_only=True)
class Event:
    type: EventType
    reason: str
    message: str


@dataclass(frozen=True, kw_only=True)
class Plan:
    """What one reconcile pass should do."""

    # Every child that should exist, with its config-hash annotation, by kind.
    desired: Mapping[str, Manifest] = field(default_factory=dict)
    # Fields the operator is letting go of, applied first under the hand-off field manager
    # so their values stay put until their new owner (KEDA's HPA) sets them.
    hand_over: tuple[Manifest, ...] = ()
    # The subset of `desired` that is missing or has drifted: to apply now.
    apply: tuple[Manifest, ...] = ()
    # Children of this queue that should no longer exist.
    delete: tuple[ChildRef, ...] = ()
    # The complete status to write (the operator writes it only when it differs).
    status: Mapping[str, Any] = field(default_factory=dict)
    events: tuple[Event, ...] = ()


def plan_from_body(
    body: Mapping[str, Any], config: OperatorConfig, observed: Observed
) -> tuple[QueueIdentity, Plan]:
    """Parse the WorkflowQueue body, then plan; a bad spec becomes an InvalidSpec status."""
    metadata = body.get("metadata", {})
    queue = QueueIdentity(
        namespace=str(metadata.get("namespace", "")),
        name=str(metadata.get("name", "")),
        uid=str(metadata.get("uid", "")),
        generation=int(metadata.get("generation") or 0),
    )
    try:
        spec = parse_spec(body.get("spec") or {})
    except SpecError as error:
        return queue, _invalid(queue, observed, str(error))
    return queue, plan(queue, spec, config, observed)


def plan(
    queue: QueueIdentity, spec: WorkflowQueueSpec, config: OperatorConfig, observed: Observed
) -> Plan:
    if spec.paused:
        return _paused(queue, spec, observed)
    target = _target(spec, config)
    if isinstance(target, str):
        return _invalid(queue, observed, target)

    desired = _desired_children(queue, spec, target, observed)
    apply: list[Manifest] = []
    # One event per kind of change per pass, naming every child it touched: a new queue
    # gets one "Created" event, not one per child.
    touched: dict[str, list[str]] = {}
    for kind, manifest in desired.items():
        reason = _apply_reason(kind, manifest, observed)
        if reason is None:
            continue
        apply.append(manifest)
        touched.setdefault(reason, []).append(f"{kind} {manifest['metadata']['name']}")
    delete = tuple(
        ChildRef(kind=kind, name=child.name)
        for kind, child in observed.children.items()
        if kind not in desired and child.owner_uid == queue.uid
    )
    if delete:
        touched["deleted"] = [f"{ref.kind} {ref.name}" for ref in delete]
    events = [
        Event(type=event_type, reason=reason, message=f"{', '.join(children)} {verb}")
        for change, (event_type, reason, verb) in _CHANGE_EVENTS.items()
        if (children := touched.get(change))
    ]

    status = _status(queue, spec, observed, desired)
    events.extend(_transition_events(observed.previous_status, status))
    return Plan(
        desired=desired,
        hand_over=_replicas_hand_over(desired, observed),
        apply=tuple(apply),
        delete=delete,
        status=status,
        events=tuple(events),
    )


# How each kind of child change is reported: (event type, reason, verb).
_CHANGE_EVENTS: Mapping[str, tuple[EventType, str, str]] = {
    "missing": ("Normal", "Created", "applied"),
    "changed": ("Normal", "Updated", "updated"),
    "drifted": ("Warning", "DriftRepaired", "changed outside the operator; restored"),
    "deleted": ("Normal", "Deleted", "deleted"),
}


def _target(spec: WorkflowQueueSpec, config: OperatorConfig) -> m.Target | str:
    address = spec.temporal.address or config.temporal_address
    if not address:
        return "spec.temporal.address is empty and the operator has no --temporal-address default"
    image = spec.worker.image or config.worker_image
    if not image:
        return "spec.worker.image is empty and the operator has no --worker-image default"
    return m.Target(
        temporal_address=address,
        temporal_namespace=spec.temporal.namespace or config.temporal_namespace,
        image=image,
    )


def _desired_children(
    queue: QueueIdentity, spec: WorkflowQueueSpec, target: m.Target, observed: Observed
) -> dict[str, Manifest]:
    # Without KEDA nobody scales the Deployment: run a fixed count that can do the work.
    # With KEDA the replica count is the HPA's; leaving it out of the applied manifest
    # keeps server-side apply from fighting the HPA.
    fixed = None if observed.keda_installed else max(spec.scaling.min_replicas, 1)
    children = [m.worker_deployment(queue, spec, target, fixed_replicas=fixed)]
    if observed.keda_installed:
        if m.needs_trigger_authentication(spec):
            children.append(m.trigger_authentication(queue, spec, target))
        children.append(m.scaled_object(queue, spec, target))
    if spec.scaling.max_replicas > 1:
        children.append(m.pod_disruption_budget(queue, spec, target))
    if observed.prometheus_operator_installed:
        children.append(m.pod_monitor(queue, spec, target))
    by_kind = {child["kind"]: m.with_config_hash(child) for child in children}
    # Apply order: what others reference first.
    return {kind.kind: by_kind[kind.kind] for kind in constants.CHILD_KINDS if kind.kind in by_kind}


def _replicas_hand_over(
    desired: Mapping[str, Manifest], observed: Observed
) -> tuple[Manifest, ...]:
    """Keep the running replica count when the operator stops fixing it (KEDA arrived)."""
    wanted = desired.get(constants.DEPLOYMENT.kind)
    child = observed.children.get(constants.DEPLOYMENT.kind)
    if wanted is None or "replicas" in wanted["spec"]:
        return ()
    if child is None or child.deployment is None or not child.deployment.replicas_owned_by_operator:
        return ()
    return (m.replicas_hand_over(wanted, child.deployment.desired_replicas),)


def _apply_reason(kind: str, manifest: Manifest, observed: Observed) -> str | None:
    child = observed.children.get(kind)
    if child is None:
        return "missing"
    wanted = manifest["metadata"]["annotations"][constants.CONFIG_HASH_ANNOTATION]
    if child.config_hash != wanted:
        return "changed"
    applied = observed.applied_generations.get(kind)
    if applied is None:
        return "unverified"  # first pass since the operator started: re-assert once
    if child.generation != applied:
        return "drifted"
    return None


def _status(
    queue: QueueIdentity,
    spec: WorkflowQueueSpec,
    observed: Observed,
    desired: Mapping[str, Manifest],
) -> dict[str, Any]:
    previous = _previous_conditions(observed.previous_status)
    deployment = observed.children.get(constants.DEPLOYMENT.kind)
    available = _available(deployment)
    autoscaler = _autoscaler(spec, observed)
    reachable = _temporal_reachable(observed)
    if spec.paused:
        ready = (
            "False",
            Reason.PAUSED,
            "reconciliation is paused (spec.paused); children are left as they are",
        )
    elif available[0] != "True":
        ready = ("False", Reason.WORKERS_UNAVAILABLE, available[2])
    elif autoscaler[0] == "False":
        ready = ("False", Reason.AUTOSCALER_NOT_READY, autoscaler[2])
    else:
        ready = ("True", Reason.RECONCILED, "children are in place and workers are available")
    conditions = [
        condition(kind, *values, generation=queue.generation, previous=previous, now=observed.now)
        for kind, values in (
            (constants.READY, ready),
            (constants.AVAILABLE, available),
            (constants.AUTOSCALER_READY, autoscaler),
            (constants.TEMPORAL_REACHABLE, reachable),
        )
    ]
    state = deployment.deployment if deployment is not None else None
    status: dict[str, Any] = {
        "observedGeneration": queue.generation,
        "replicas": state.replicas if state else 0,
        "readyReplicas": state.ready_replicas if state else 0,
        "desiredReplicas": state.desired_replicas if state else 0,
        "children": _children_status(queue, desired, observed),
        "conditions": conditions,
    }
    reading = observed.last_reading
    if reading is not None:
        status["backlog"] = backlog_status(reading)
    elif "backlog" in observed.previous_status:
        status["backlog"] = observed.previous_status["backlog"]
    return status


def backlog_status(reading: BacklogReading) -> dict[str, Any]:
    return {
        "approximateCount": reading.approximate_count,
        "approximateAgeSeconds": round(reading.approximate_age_seconds, 3),
        "addRate": round(reading.add_rate, 3),
        "dispatchRate": round(reading.dispatch_rate, 3),
        "observedAt": _timestamp(reading.observed_at),
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


Triple = tuple[str, str, str]


def _available(deployment: ChildSnapshot | None) -> Triple:
    if deployment is None or deployment.deployment is None:
        return ("False", Reason.DEPLOYMENT_PENDING, "the worker Deployment does not exist yet")
    state = deployment.deployment
    name = deployment.name
    progress = f"{state.ready_replicas}/{state.desired_replicas} workers ready"
    if state.progressing is not None and state.progressing.reason == "ProgressDeadlineExceeded":
        return (
            "False",
            Reason.ROLLOUT_STALLED,
            f"Deployment {name} rollout stalled: {state.progressing.message} ({progress})",
        )
    if state.observed_generation < state.generation or state.available is None:
        return (
            "Unknown",
            Reason.ROLLOUT_IN_PROGRESS,
            f"waiting for the Deployment controller to act on {name} ({progress})",
        )
    if state.desired_replicas == 0:
        return ("True", Reason.SCALED_TO_ZERO, f"Deployment {name} is scaled to zero")
    if state.available.status == "True":
        return ("True", Reason.WORKERS_AVAILABLE, f"Deployment {name}: {progress}")
    return (
        "False",
        Reason.MINIMUM_REPLICAS_UNAVAILABLE,
        f"Deployment {name}: {progress}; {state.available.message}".rstrip("; "),
    )


def _autoscaler(spec: WorkflowQueueSpec, observed: Observed) -> Triple:
    if not observed.keda_installed:
        replicas = max(spec.scaling.min_replicas, 1)
        return (
            "False",
            Reason.KEDA_NOT_INSTALLED,
            f"KEDA's CRD {constants.KEDA_SCALEDOBJECTS_CRD} is not installed; running a fixed "
            f"{replicas} worker(s) until it is",
        )
    child = observed.children.get(constants.SCALED_OBJECT.kind)
    if child is None or child.scaled_object is None:
        return ("Unknown", Reason.SCALED_OBJECT_PENDING, "the ScaledObject does not exist yet")
    ready = child.scaled_object.ready
    if ready is None or ready.status == "Unknown":
        return (
            "Unknown",
            Reason.SCALED_OBJECT_PENDING,
            f"waiting for KEDA to report on ScaledObject {child.name}",
        )
    if ready.status == "True":
        return ("True", Reason.SCALED_OBJECT_READY, f"ScaledObject {child.name} is ready")
    detail = ready.message or ready.reason or "not ready"
    return ("False", Reason.SCALED_OBJECT_NOT_READY, f"ScaledObject {child.name}: {detail}")


def _temporal_reachable(observed: Observed) -> Triple:
    check = observed.temporal
    if check is None:
        return ("Unknown", Reason.NOT_CHECKED_YET, "the backlog has not been read yet")
    if check.reachable and check.reading is not None:
        # No timestamp here (status.backlog.observedAt has it): an unchanged message
        # keeps an unchanged status from being rewritten.
        return ("True", Reason.BACKLOG_READ, "the backlog was read from Temporal")
    reason = Reason.SECRET_UNAVAILABLE if check.secret_problem else Reason.TEMPORAL_UNREACHABLE
    return ("False", reason, check.error or "the backlog could not be read")


def condition(
    kind: str,
    status: str,
    reason: str,
    message: str,
    *,
    generation: int,
    previous: Mapping[str, Mapping[str, Any]],
    now: datetime,
) -> dict[str, Any]:
    """A condition whose lastTransitionTime only moves when its status changes."""
    before = previous.get(kind)
    if before is not None and before.get("status") == status and before.get("lastTransitionTime"):
        since = str(before["lastTransitionTime"])
    else:
        since = _timestamp(now)
    return {
        "type": kind,
        "status": status,
        "reason": reason,
        "message": message,
        "observedGeneration": generation,
        "lastTransitionTime": since,
    }


def _previous_conditions(status: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {str(c.get("type")): c for c in status.get("conditions") or [] if isinstance(c, Mapping)}


def _transition_events(
    previous_status: Mapping[str, Any], status: Mapping[str, Any]
) -> list[Event]:
    """An event when Ready or AutoscalerReady changes status or reason."""
    before = _previous_conditions(previous_status)
    events = []
    for now in status["conditions"]:
        if now["type"] not in (constants.READY, constants.AUTOSCALER_READY):
            continue
        was = before.get(now["type"])
        if was is not None and (was.get("status"), was.get("reason")) == (
            now["status"],
            now["reason"],
        ):
            continue
        if now["status"] == "Unknown":
            continue
        if was is None and now["reason"] == Reason.WORKERS_UNAVAILABLE:
            continue  # a new queue waiting for its first workers is not news
        events.append(
            Event(
                type="Normal" if now["status"] == "True" else "Warning",
                reason=now["reason"],
                message=f"{now['type']}={now['status']}: {now['message']}",
            )
        )
    return events


def _paused(queue: QueueIdentity, spec: WorkflowQueueSpec, observed: Observed) -> Plan:
    status = _status(queue, spec, observed, desired={})
    return Plan(status=status, events=tuple(_transition_events(observed.previous_status, status)))


def _invalid(queue: QueueIdentity, observed: Observed, message: str) -> Plan:
    """Leave children alone, say what is wrong, and keep the other conditions as they were."""
    previous = _previous_conditions(observed.previous_status)
    ready = condition(
        constants.READY,
        "False",
        Reason.INVALID_SPEC,
        message,
        generation=queue.generation,
        previous=previous,
        now=observed.now,
    )
    others = [c for kind, c in previous.items() if kind != constants.READY]
    status = {
        **observed.previous_status,
        "observedGeneration": queue.generation,
        "conditions": [ready, *(dict(c) for c in others)],
    }
    return Plan(status=status, events=tuple(_transition_events(observed.previous_status, status)))


def with_apply_failure(
    status: Mapping[str, Any], error: str, *, generation: int, now: datetime
) -> dict[str, Any]:
    """The planned status, with Ready turned False because applying the plan failed."""
    conditions: Sequence[Mapping[str, Any]] = status.get("conditions") or []
    previous = {str(c["type"]): c for c in conditions}
    ready = condition(
        constants.READY,
        "False",
        Reason.APPLY_FAILED,
        error,
        generation=generation,
        previous=previous,
        now=now,
    )
    return {
        **status,
        "conditions": [ready, *(dict(c) for c in conditions if c["type"] != constants.READY)],
    }


def _timestamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
