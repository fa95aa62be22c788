"""The pure planner: (queue, spec, operator config, observed state) → Plan.

No I/O here. The reconciler observes the world (its cache), calls `plan`, executes what it
says and writes the status it carries — once per pass. What should exist is decided here;
what the status says is `genstatus`'s job; whether a child drifted is `drift`'s.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import constants
from . import manifests as m
from .conditions import Reason
from .config import OperatorConfig
from .drift import fingerprint, subset_matches
from .genstatus import invalid_status, queue_status, transition_events, with_apply_failure
from .observed import Applied, Observed
from .plantypes import ChildRef, Event, EventType, Manifest, Plan
from .spec import QueueIdentity, SpecError, WorkflowQueueSpec, parse_spec

__all__ = [
    "ChildRef",
    "Event",
    "Plan",
    "PolicyViolation",
    "plan",
    "plan_from_body",
    "policy_violation",
    "with_apply_failure",
]


def plan_from_body(
    body: Mapping[str, Any], config: OperatorConfig, observed: Observed
) -> tuple[QueueIdentity, Plan]:
    """Parse the WorkflowQueue body, then plan; a bad spec becomes an InvalidSpec status."""
    queue = QueueIdentity.of(body)
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
    refused = policy_violation(spec, config)
    if refused is not None:
        return _invalid(queue, observed, refused.message, reason=refused.reason)
    target = _target(spec, config)
    if isinstance(target, str):
        return _invalid(queue, observed, target)

    desired = _desired_children(queue, spec, target, observed)
    apply: list[Manifest] = []
    verified: dict[str, Applied] = {}
    drifted: list[str] = []
    # One event per kind of change per pass, naming every child it touched: a new queue
    # gets one "Created" event, not one per child.
    touched: dict[str, list[str]] = {}
    for kind, manifest in desired.items():
        reason = _apply_reason(kind, manifest, observed)
        if reason is None:
            continue
        if isinstance(reason, Applied):
            verified[kind] = reason
            continue
        apply.append(manifest)
        if reason == "drifted":
            drifted.append(kind)
        touched.setdefault(reason, []).append(f"{kind} {manifest['metadata']['name']}")
    delete = tuple(
        ChildRef(kind=kind, name=child.name)
        for kind, child in observed.children.items()
        if kind not in desired and child.owner_uid == queue.uid
    )
    if delete:
        touched["deleted"] = [f"{ref.kind} {ref.name}" for ref in delete]
    changes = tuple(
        Event(type=event_type, reason=reason, message=f"{', '.join(children)} {verb}")
        for change, (event_type, reason, verb) in _CHANGE_EVENTS.items()
        if (children := touched.get(change))
    )

    status = queue_status(queue, spec, observed, desired)
    return Plan(
        desired=desired,
        hand_over=_replicas_hand_over(desired, observed),
        apply=tuple(apply),
        verified=verified,
        drifted=tuple(drifted),
        delete=delete,
        status=status,
        changes=changes,
        transitions=tuple(transition_events(observed.previous_status, status)),
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
        pod_monitor_labels=config.pod_monitor_labels,
        image_pull_secrets=config.worker_image_pull_secrets,
        pod_labels=config.worker_pod_labels,
        pod_annotations=config.worker_pod_annotations,
    )


@dataclass(frozen=True)
class PolicyViolation:
    reason: str
    message: str


def policy_violation(spec: WorkflowQueueSpec, config: OperatorConfig) -> PolicyViolation | None:
    """Whether the queue asks for an image or ServiceAccount the operator may not give it.

    A WorkflowQueue runs pods with what it names, so on a shared cluster the operator's
    settings bound it; the operator's own default image is trusted, images a queue names
    (worker, init containers, sidecars) must start with an allowed prefix.
    """
    prefixes = config.allowed_image_prefixes
    worker = spec.worker
    named = [("spec.worker.image", worker.image)] if worker.image else []
    template = worker.template
    named += [
        (f"spec.worker.template.spec.initContainers[{c.get('name')}].image", str(c["image"]))
        for c in template.init_containers
        if c.get("image")
    ]
    named += [
        (f"spec.worker.template.spec.containers[{c.get('name')}].image", str(c["image"]))
        for c in template.containers
        if c.get("image")
    ]
    for field_path, image in named:
        if prefixes and not image.startswith(prefixes):
            return PolicyViolation(
                Reason.IMAGE_NOT_ALLOWED,
                f"{field_path}: {image} does not start with an allowed prefix "
                f"({', '.join(prefixes)}); ask the cluster admin (operator --allowed-image-prefix)",
            )
    accounts = config.allowed_service_accounts
    account = worker.service_account_name
    if accounts and account and account not in accounts:
        return PolicyViolation(
            Reason.SERVICE_ACCOUNT_NOT_ALLOWED,
            f"spec.worker.serviceAccountName: {account} is not one of the allowed "
            f"ServiceAccounts ({', '.join(accounts)}); ask the cluster admin "
            "(operator --allowed-service-account)",
        )
    return None


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


def _apply_reason(kind: str, manifest: Manifest, observed: Observed) -> str | Applied | None:
    """Why `manifest` must be applied (None: it is in place; Applied: in place, newly known).

    Drift is a changed value in a field we set (see `drift`), never a new generation: an
    autoscaler's replicas and a restart annotation bump the generation but are not ours.
    """
    child = observed.children.get(kind)
    if child is None:
        return "missing"
    wanted = manifest["metadata"]["annotations"][constants.CONFIG_HASH_ANNOTATION]
    if child.config_hash != wanted:
        return "changed"
    live = child.live()
    applied = observed.applied.get(kind)
    if applied is not None and applied.config_hash == wanted:
        return None if fingerprint(live, manifest) == applied.fingerprint else "drifted"
    # No record since the operator started: compare with the manifest itself. A mismatch
    # may be the API server's normalisation rather than drift, so it is applied quietly.
    if subset_matches(live, manifest):
        return Applied(config_hash=wanted, fingerprint=fingerprint(live, manifest))
    return "unverified"


def _paused(queue: QueueIdentity, spec: WorkflowQueueSpec, observed: Observed) -> Plan:
    status = queue_status(queue, spec, observed, desired={})
    return Plan(
        status=status, transitions=tuple(transition_events(observed.previous_status, status))
    )


def _invalid(
    queue: QueueIdentity, observed: Observed, message: str, *, reason: str = Reason.INVALID_SPEC
) -> Plan:
    """Leave children alone and say what is wrong."""
    status = invalid_status(queue, observed, message, reason=reason)
    return Plan(
        status=status, transitions=tuple(transition_events(observed.previous_status, status))
    )
