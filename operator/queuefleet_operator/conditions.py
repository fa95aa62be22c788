"""WorkflowQueue conditions: their types, their reasons, and the one function that writes them.

A condition is computed as a frozen `ConditionState` (status, reason, message) and turned
into the status's JSON by `to_status`, which alone decides `lastTransitionTime`: it moves
only when the status changes, so an unchanged state rewrites nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

__all__ = [
    "AUTOSCALER_READY",
    "AVAILABLE",
    "CONDITION_TYPES",
    "READY",
    "TEMPORAL_REACHABLE",
    "ConditionState",
    "Reason",
    "by_type",
    "timestamp",
    "to_status",
]

READY: Final = "Ready"
AVAILABLE: Final = "Available"
AUTOSCALER_READY: Final = "AutoscalerReady"
TEMPORAL_REACHABLE: Final = "TemporalReachable"
CONDITION_TYPES: Final = (READY, AVAILABLE, AUTOSCALER_READY, TEMPORAL_REACHABLE)

Status = Literal["True", "False", "Unknown"]


class Reason:
    """Condition reasons: CamelCase constants machines can match on."""

    # Ready
    RECONCILED: Final = "Reconciled"
    FIXED_REPLICAS: Final = "FixedReplicas"  # serving without KEDA: the documented fallback
    PAUSED: Final = "Paused"
    INVALID_SPEC: Final = "InvalidSpec"
    # Refused by the operator's policy (its --allowed-* settings), so not applied.
    IMAGE_NOT_ALLOWED: Final = "ImageNotAllowed"  # spec.worker.image or a template image
    SERVICE_ACCOUNT_NOT_ALLOWED: Final = "ServiceAccountNotAllowed"  # ...serviceAccountName
    WORKERS_UNAVAILABLE: Final = "WorkersUnavailable"
    AUTOSCALER_NOT_READY: Final = "AutoscalerNotReady"
    WORKERS_FAILING: Final = "WorkersFailing"  # pods exist but their container cannot run
    APPLY_FAILED: Final = "ApplyFailed"
    # Ready, when spec.temporal asks for more than the queue may have (see `connection`)
    INLINE_CREDENTIALS_REFUSED: Final = "InlineCredentialsRefused"
    CONNECTION_NOT_FOUND: Final = "ConnectionNotFound"
    INVALID_CONNECTION: Final = "InvalidConnection"
    ADDRESS_NOT_ALLOWED: Final = "AddressNotAllowed"
    # Available
    WORKERS_AVAILABLE: Final = "WorkersAvailable"
    SCALED_TO_ZERO: Final = "ScaledToZero"
    DEPLOYMENT_PENDING: Final = "DeploymentPending"
    ROLLOUT_IN_PROGRESS: Final = "RolloutInProgress"
    ROLLOUT_STALLED: Final = "RolloutStalled"
    MINIMUM_REPLICAS_UNAVAILABLE: Final = "MinimumReplicasUnavailable"
    PODS_REJECTED: Final = "PodsRejected"  # the API server refused to create worker pods
    # AutoscalerReady
    KEDA_NOT_INSTALLED: Final = "KedaNotInstalled"
    SCALED_OBJECT_PENDING: Final = "ScaledObjectPending"
    SCALED_OBJECT_READY: Final = "ScaledObjectReady"
    SCALED_OBJECT_NOT_READY: Final = "ScaledObjectNotReady"
    # TemporalReachable
    NOT_CHECKED_YET: Final = "NotCheckedYet"
    BACKLOG_READ: Final = "BacklogRead"
    TEMPORAL_UNREACHABLE: Final = "TemporalUnreachable"
    SECRET_UNAVAILABLE: Final = "SecretUnavailable"  # noqa: S105 - a reason, not a secret


@dataclass(frozen=True)
class ConditionState:
    status: Status
    reason: str
    message: str

    @property
    def true(self) -> bool:
        return self.status == "True"


def to_status(
    kind: str,
    state: ConditionState,
    *,
    generation: int,
    previous: Mapping[str, Mapping[str, Any]],
    now: datetime,
) -> dict[str, Any]:
    """The condition as the status holds it; lastTransitionTime moves only with status."""
    before = previous.get(kind)
    if (
        before is not None
        and before.get("status") == state.status
        and before.get("lastTransitionTime")
    ):
        since = str(before["lastTransitionTime"])
    else:
        since = timestamp(now)
    return {
        "type": kind,
        "status": state.status,
        "reason": state.reason,
        "message": state.message,
        "observedGeneration": generation,
        "lastTransitionTime": since,
    }


def by_type(status: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """A status's conditions keyed by type."""
    return {str(c.get("type")): c for c in status.get("conditions") or [] if isinstance(c, Mapping)}


def timestamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
