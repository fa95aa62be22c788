"""Which spec field a run-time failure is about, from the words of whoever refused it.

Some values pass the CRD and the operator but fail only when pods start: a ServiceAccount
or PriorityClass that does not exist, a quota, an image that cannot be pulled, an extra env
value the worker's settings parser refuses. The status then names the field, not only
"workers unavailable". Best effort: a message naming nothing we know gets no field.
"""

from __future__ import annotations

from queuefleet_worker import contract

from .spec import WorkflowQueueSpec

__all__ = ["field_for"]

# The worker names the variable it refused; the operator sets these from these fields.
_ENV_FIELDS = {
    contract.ENV_TASK_QUEUE: "spec.taskQueue",
    contract.ENV_REGISTRARS: "spec.worker.registrars",
    contract.ENV_MAX_CONCURRENT_ACTIVITIES: "spec.worker.concurrency.maxConcurrentActivities",
    contract.ENV_MAX_CONCURRENT_WORKFLOW_TASKS: (
        "spec.worker.concurrency.maxConcurrentWorkflowTasks"
    ),
    contract.ENV_GRACEFUL_SHUTDOWN_SECONDS: "spec.worker.gracefulShutdownSeconds",
    contract.ENV_DEPLOYMENT_NAME: "spec.worker.deploymentName",
    contract.ENV_BUILD_ID: "spec.worker.buildId",
    contract.ENV_TEMPORAL_ADDRESS: "spec.temporal.address",
    contract.ENV_TEMPORAL_NAMESPACE: "spec.temporal.namespace",
    contract.ENV_TEMPORAL_TLS_CLIENT_CERT_PATH: "spec.temporal.tls.secretName",
    contract.ENV_TEMPORAL_TLS_CLIENT_KEY_PATH: "spec.temporal.tls.secretName",
    contract.ENV_TEMPORAL_TLS_SERVER_CA_CERT_PATH: "spec.temporal.tls.caKey",
    contract.ENV_TEMPORAL_API_KEY: "spec.temporal.apiKeySecret",
}
# Admission and kubelet phrases, lower-cased, and the field they point at.
_PHRASES = (
    ("service account", "spec.worker.serviceAccountName"),
    ("serviceaccount", "spec.worker.serviceAccountName"),
    ("priorityclass", "spec.worker.priorityClassName"),
    ("exceeded quota", "spec.worker.resources"),
    ("limitrange", "spec.worker.resources"),
    ("podsecurity", "spec.worker"),
)
_IMAGE_REASONS = frozenset({"ErrImagePull", "ImagePullBackOff", "InvalidImageName"})


def field_for(message: str, spec: WorkflowQueueSpec, *, reason: str = "") -> str | None:
    if reason in _IMAGE_REASONS:
        return "spec.worker.image"
    for name, field in _ENV_FIELDS.items():
        if name in message:
            return field
    for entry in spec.worker.env:
        name = str(entry.get("name", ""))
        if name and name in message:
            return f"spec.worker.env[{name}]"
    lowered = message.lower()
    for phrase, field in _PHRASES:
        if phrase in lowered:
            return field
    secret = spec.temporal.api_key_secret
    if secret is not None and f'secret "{secret.name}"' in message:
        return "spec.temporal.apiKeySecret"
    return None
