"""What the operator saw: compact, frozen snapshots of children and of Temporal.

Snapshots are made from raw API bodies by pure functions, so the planner never touches the
API and tests build observed states from plain dictionaries.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from . import constants

__all__ = [
    "BacklogReading",
    "ChildSnapshot",
    "ConditionView",
    "DeploymentState",
    "Observed",
    "ScaledObjectState",
    "TemporalCheck",
    "child_snapshot",
    "controller_owner",
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
class Observed:
    """Everything the planner needs to know about the world, for one WorkflowQueue."""

    now: datetime
    children: Mapping[str, ChildSnapshot] = field(default_factory=dict)  # by kind
    # generation each child had right after the operator last applied it (by kind)
    applied_generations: Mapping[str, int] = field(default_factory=dict)
    keda_installed: bool = False
    prometheus_operator_installed: bool = False
    temporal: TemporalCheck | None = None
    last_reading: BacklogReading | None = None
    previous_status: Mapping[str, Any] = field(default_factory=dict)


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
    )


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
