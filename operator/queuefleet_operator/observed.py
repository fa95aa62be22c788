"""What the operator saw: compact, frozen snapshots of children and of Temporal.

Snapshots are made from raw API bodies by pure functions, so the planner never touches the
API and tests build observed states from plain dictionaries.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from . import constants

__all__ = [
    "Applied",
    "BacklogReading",
    "ChildSnapshot",
    "ConditionView",
    "DeploymentState",
    "Observed",
    "ScaledObjectState",
    "TemporalCheck",
    "WorkerFailure",
    "child_snapshot",
    "controller_owner",
    "worker_failure",
]


@dataclass(frozen=True, kw_only=True)
class ConditionView:
    status: str = "Unknown"
    reason: str = ""
    message: str = ""


@dataclass(frozen=True, kw_only=True)
class DeploymentState:
    desired_replicas: int = 0
    replicas: int = 0
    ready_replicas: int = 0
    updated_replicas: int = 0
    generation: int = 0
    observed_generation: int = 0
    available: ConditionView | None = None
    progressing: ConditionView | None = None
    # The ReplicaSet controller could not create pods (admission refused them).
    replica_failure: ConditionView | None = None
    # The operator's server-side apply owns spec.replicas (true while KEDA is missing).
    replicas_owned_by_operator: bool = False


@dataclass(frozen=True, kw_only=True)
class ScaledObjectState:
    ready: ConditionView | None = None
    active: ConditionView | None = None
    fallback: ConditionView | None = None


@dataclass(frozen=True, kw_only=True)
class ChildSnapshot:
    """One child object as last seen by the watch."""

    kind: str
    name: str
    namespace: str
    owner_uid: str | None
    generation: int
    config_hash: str | None
    deployment: DeploymentState | None = None
    scaled_object: ScaledObjectState | None = None
    # Everything but status and bookkeeping, as compact JSON: what drift is judged on
    # (a string keeps thousands of cached children small).
    live_json: str = "{}"
    # Orders two snapshots of the same object (see `supersedes`); not part of what a pass
    # looks at, so a write that changed nothing we read compares equal.
    resource_version: str = field(default="", compare=False)

    def supersedes(self, other: ChildSnapshot) -> bool:
        """Whether this snapshot is at least as new as `other`.

        resourceVersion is opaque by the API conventions, but every etcd-backed API server
        issues the store's revision, an integer that grows with each write (to any object);
        when either is not such an integer, this one is taken as newer.
        """
        if not (self.resource_version.isdigit() and other.resource_version.isdigit()):
            return True
        return int(self.resource_version) >= int(other.resource_version)

    def live(self) -> dict[str, Any]:
        found: dict[str, Any] = json.loads(self.live_json)
        return found


@dataclass(frozen=True, kw_only=True)
class Applied:
    """What the operator last applied to one child, and how the result looked."""

    config_hash: str
    fingerprint: str  # drift.fingerprint of the apply response


@dataclass(frozen=True, kw_only=True)
class BacklogReading:
    approximate_count: int
    approximate_age_seconds: float
    add_rate: float
    dispatch_rate: float
    observed_at: datetime


@dataclass(frozen=True, kw_only=True)
class TemporalCheck:
    """The latest attempt to read the backlog, and the latest reading that succeeded."""

    reachable: bool
    checked_at: datetime
    reading: BacklogReading | None = None
    error: str = ""
    # True when the failure was reading a referenced Secret rather than reaching Temporal.
    secret_problem: bool = False


@dataclass(frozen=True, kw_only=True)
class WorkerFailure:
    """Why a worker pod's container does not run (what the kubelet reported)."""

    pod: str
    reason: str  # e.g. CrashLoopBackOff, ImagePullBackOff, CreateContainerConfigError
    message: str  # the kubelet's words, or the worker's last log line when it exited


@dataclass(frozen=True, kw_only=True)
class Observed:
    """Everything the planner needs to know about the world, for one WorkflowQueue."""

    now: datetime
    children: Mapping[str, ChildSnapshot] = field(default_factory=dict)  # by kind
    # what the operator last applied (or verified) of each child since it started, by kind
    applied: Mapping[str, Applied] = field(default_factory=dict)
    keda_installed: bool = False
    prometheus_operator_installed: bool = False
    temporal: TemporalCheck | None = None
    last_reading: BacklogReading | None = None
    previous_status: Mapping[str, Any] = field(default_factory=dict)
    worker_failure: WorkerFailure | None = None


def controller_owner(body: Mapping[str, Any]) -> tuple[str, str] | None:
    """(uid, name) of the WorkflowQueue controlling this object, if any."""
    for ref in body.get("metadata", {}).get("ownerReferences") or []:
        ours = str(ref.get("apiVersion", "")).startswith(f"{constants.GROUP}/")
        if ref.get("controller") and ref.get("kind") == constants.KIND and ours:
            return str(ref.get("uid", "")), str(ref.get("name", ""))
    return None


def child_snapshot(body: Mapping[str, Any]) -> ChildSnapshot:
    metadata = body.get("metadata", {})
    kind = str(body.get("kind", ""))
    owner = controller_owner(body)
    return ChildSnapshot(
        kind=kind,
        name=str(metadata.get("name", "")),
        namespace=str(metadata.get("namespace", "")),
        owner_uid=owner[0] if owner else None,
        generation=int(metadata.get("generation") or 0),
        config_hash=(metadata.get("annotations") or {}).get(constants.CONFIG_HASH_ANNOTATION),
        deployment=_deployment_state(body) if kind == constants.DEPLOYMENT.kind else None,
        scaled_object=_scaled_object_state(body) if kind == constants.SCALED_OBJECT.kind else None,
        live_json=_live_json(body),
        resource_version=str(metadata.get("resourceVersion") or ""),
    )


# Written by the API server on every change; never part of what we apply.
_BOOKKEEPING = ("managedFields", "resourceVersion", "generation", "uid", "creationTimestamp")


def _live_json(body: Mapping[str, Any]) -> str:
    metadata = {k: v for k, v in (body.get("metadata") or {}).items() if k not in _BOOKKEEPING}
    kept = {k: v for k, v in body.items() if k != "status"}
    kept["metadata"] = metadata
    return json.dumps(kept, sort_keys=True, separators=(",", ":"))


def _conditions(body: Mapping[str, Any]) -> dict[str, ConditionView]:
    views = {}
    for condition in (body.get("status") or {}).get("conditions") or []:
        views[str(condition.get("type"))] = ConditionView(
            status=str(condition.get("status", "Unknown")),
            reason=str(condition.get("reason") or ""),
            message=str(condition.get("message") or ""),
        )
    return views


def _deployment_state(body: Mapping[str, Any]) -> DeploymentState:
    spec = body.get("spec") or {}
    status = body.get("status") or {}
    conditions = _conditions(body)
    return DeploymentState(
        desired_replicas=int(spec.get("replicas", 1)),
        replicas=int(status.get("replicas") or 0),
        ready_replicas=int(status.get("readyReplicas") or 0),
        updated_replicas=int(status.get("updatedReplicas") or 0),
        generation=int(body.get("metadata", {}).get("generation") or 0),
        observed_generation=int(status.get("observedGeneration") or 0),
        available=conditions.get("Available"),
        progressing=conditions.get("Progressing"),
        replica_failure=conditions.get("ReplicaFailure"),
        replicas_owned_by_operator=_applies_field(
            body, constants.FIELD_MANAGER, "spec", "replicas"
        ),
    )


def _applies_field(body: Mapping[str, Any], manager: str, *path: str) -> bool:
    """Whether `manager`'s server-side apply owns the field at `path` (managedFields)."""
    for entry in body.get("metadata", {}).get("managedFields") or []:
        if entry.get("manager") != manager or entry.get("operation") != "Apply":
            continue
        fields = entry.get("fieldsV1") or {}
        for key in path:
            fields = fields.get(f"f:{key}")
            if not isinstance(fields, Mapping):
                return False
        return True
    return False


def _scaled_object_state(body: Mapping[str, Any]) -> ScaledObjectState:
    conditions = _conditions(body)
    return ScaledObjectState(
        ready=conditions.get("Ready"),
        active=conditions.get("Active"),
        fallback=conditions.get("Fallback"),
    )


# Container states that keep a worker from ever serving until its spec changes.
_STUCK_WAITING = frozenset(
    {
        "CrashLoopBackOff",
        "CreateContainerConfigError",
        "CreateContainerError",
        "ErrImagePull",
        "ImagePullBackOff",
        "InvalidImageName",
    }
)


def worker_failure(pod: Mapping[str, Any]) -> WorkerFailure | None:
    """The worker container's failure in this pod, if it has one."""
    name = str(pod.get("metadata", {}).get("name", ""))
    for container in (pod.get("status") or {}).get("containerStatuses") or []:
        if container.get("name") != constants.WORKER_CONTAINER:
            continue
        state = container.get("state") or {}
        last = (container.get("lastState") or {}).get("terminated") or {}
        waiting = state.get("waiting") or {}
        terminated = state.get("terminated") or {}
        if waiting.get("reason") in _STUCK_WAITING:
            # After a crash the worker's own last words are in lastState (the container's
            # terminationMessagePolicy falls back to its log).
            said = str(last.get("message") or "").strip()
            detail = said or str(waiting.get("message") or "").strip()
            return WorkerFailure(pod=name, reason=str(waiting["reason"]), message=detail)
        if terminated and terminated.get("exitCode") not in (0, None):
            said = str(terminated.get("message") or terminated.get("reason") or "").strip()
            return WorkerFailure(pod=name, reason="Error", message=said)
    return None
