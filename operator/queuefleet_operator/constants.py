"""One home for the operator's names: API group, resources, labels, annotations.

Condition types and reasons live in `conditions`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

GROUP: Final = "queuefleet.dev"
VERSION: Final = "v1alpha1"
API_VERSION: Final = f"{GROUP}/{VERSION}"
KIND: Final = "WorkflowQueue"
PLURAL: Final = "workflowqueues"

FIELD_MANAGER: Final = "queuefleet-operator"
# Holds a Deployment's replica count while KEDA's HPA takes it over: if the operator simply
# stopped applying the field, the API server would reset it to 1 on the way.
REPLICAS_HANDOFF_MANAGER: Final = f"{FIELD_MANAGER}-handoff"
FINALIZER: Final = f"{GROUP}/operator"
# kopf keeps its per-handler progress and last-handled spec under this prefix.
ANNOTATION_PREFIX: Final = GROUP
CONFIG_HASH_ANNOTATION: Final = f"{GROUP}/config-hash"

# Standard labels on every child; the selector uses only name and instance (immutable).
LABEL_NAME: Final = "app.kubernetes.io/name"
LABEL_INSTANCE: Final = "app.kubernetes.io/instance"
LABEL_COMPONENT: Final = "app.kubernetes.io/component"
LABEL_PART_OF: Final = "app.kubernetes.io/part-of"
LABEL_MANAGED_BY: Final = "app.kubernetes.io/managed-by"
LABEL_VERSION: Final = "app.kubernetes.io/version"
# The labels the operator sets on every child itself (its watches select children by
# them): settings and pod templates may not set them.
OWN_LABELS: Final = frozenset(
    {LABEL_NAME, LABEL_INSTANCE, LABEL_COMPONENT, LABEL_PART_OF, LABEL_MANAGED_BY, LABEL_VERSION}
)
WORKER_APP_NAME: Final = "queuefleet-worker"
PART_OF: Final = "queuefleet"
MANAGED_BY: Final = FIELD_MANAGER

# Where worker pods find mounted material.
TLS_MOUNT_PATH: Final = "/etc/queuefleet/temporal-tls"
TMP_MOUNT_PATH: Final = "/tmp"  # noqa: S108 - an emptyDir, so a read-only root still has scratch space
WORKER_CONTAINER: Final = "worker"
# Arguments to the image's entrypoint (tini, then `queuefleet`: see the Dockerfile); the
# command is left to the image so that tini stays PID 1 and no early SIGTERM is lost.
WORKER_ARGS: Final = ("worker",)


@dataclass(frozen=True)
class ChildKind:
    """Where a kind of child object lives in the API."""

    kind: str
    api_version: str
    plural: str

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]

    @property
    def version(self) -> str:
        return self.api_version.rpartition("/")[2]


DEPLOYMENT: Final = ChildKind("Deployment", "apps/v1", "deployments")
SCALED_OBJECT: Final = ChildKind("ScaledObject", "keda.sh/v1alpha1", "scaledobjects")
TRIGGER_AUTHENTICATION: Final = ChildKind(
    "TriggerAuthentication", "keda.sh/v1alpha1", "triggerauthentications"
)
POD_DISRUPTION_BUDGET: Final = ChildKind("PodDisruptionBudget", "policy/v1", "poddisruptionbudgets")
POD_MONITOR: Final = ChildKind("PodMonitor", "monitoring.coreos.com/v1", "podmonitors")
# In the order they are applied: what others reference comes first.
CHILD_KINDS: Final = (
    TRIGGER_AUTHENTICATION,
    DEPLOYMENT,
    SCALED_OBJECT,
    POD_DISRUPTION_BUDGET,
    POD_MONITOR,
)
KINDS_BY_NAME: Final = {child.kind: child for child in CHILD_KINDS}
# Admin-owned Temporal endpoints with credentials; WorkflowQueues reference them, never own them.
TEMPORAL_CONNECTION: Final = ChildKind("TemporalConnection", API_VERSION, "temporalconnections")

# CRD names whose presence switches optional children on.
KEDA_SCALEDOBJECTS_CRD: Final = "scaledobjects.keda.sh"
KEDA_TRIGGERAUTHENTICATIONS_CRD: Final = "triggerauthentications.keda.sh"
PODMONITORS_CRD: Final = "podmonitors.monitoring.coreos.com"
