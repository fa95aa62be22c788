"""Desired child manifests for one WorkflowQueue: pure functions of the spec.

Every child gets a deterministic name, the standard app.kubernetes.io labels, a controller
owner reference to its WorkflowQueue (so the garbage collector removes it with the queue)
and an annotation with the hash of its own content, which is how drift is noticed cheaply.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from queuefleet_worker import contract

from . import constants
from .spec import QueueIdentity, WorkflowQueueSpec

__all__ = [
    "ChildNames",
    "Target",
    "child_names",
    "labels",
    "pod_disruption_budget",
    "pod_monitor",
    "replicas_hand_over",
    "scaled_object",
    "selector_labels",
    "trigger_authentication",
    "with_config_hash",
    "worker_deployment",
]

Manifest = dict[str, Any]

TLS_CERT_KEY = "tls.crt"
TLS_KEY_KEY = "tls.key"
_TLS_VOLUME = "temporal-tls"
_TMP_VOLUME = "tmp"
_TMP_SIZE_LIMIT = "64Mi"
_HEALTH_PORT_NAME = "health"
_METRICS_PORT_NAME = "metrics"
_TRIGGER_NAME = "backlog"


@dataclass(frozen=True, kw_only=True)
class Target:
    """Where workers connect and what they run, after the operator's defaults are applied."""

    temporal_address: str
    temporal_namespace: str
    image: str
    # The operator's --pod-monitor-labels: what a Prometheus selects PodMonitors by.
    pod_monitor_labels: tuple[tuple[str, str], ...] = ()
    # The operator's defaults for every worker pod; spec.worker.template adds to them.
    image_pull_secrets: tuple[str, ...] = ()
    pod_labels: tuple[tuple[str, str], ...] = ()
    pod_annotations: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, kw_only=True)
class ChildNames:
    deployment: str
    scaled_object: str
    trigger_authentication: str
    pod_disruption_budget: str
    pod_monitor: str


def child_names(queue_name: str) -> ChildNames:
    """The children's names: derived from the queue's name only, so they never move."""
    worker = f"{queue_name}-worker"
    return ChildNames(
        deployment=worker,
        scaled_object=worker,
        trigger_authentication=f"{queue_name}-temporal",
        pod_disruption_budget=worker,
        pod_monitor=worker,
    )


def selector_labels(queue: QueueIdentity) -> dict[str, str]:
    return {constants.LABEL_NAME: constants.WORKER_APP_NAME, constants.LABEL_INSTANCE: queue.name}


def labels(queue: QueueIdentity, spec: WorkflowQueueSpec, target: Target) -> dict[str, str]:
    result = {
        **selector_labels(queue),
        constants.LABEL_COMPONENT: "worker",
        constants.LABEL_PART_OF: constants.PART_OF,
        constants.LABEL_MANAGED_BY: constants.MANAGED_BY,
    }
    version = spec.worker.build_id or _image_tag(target.image)
    if version and _is_label_value(version):
        result[constants.LABEL_VERSION] = version
    return result


def _metadata(name: str, queue: QueueIdentity, spec: WorkflowQueueSpec, target: Target) -> Manifest:
    return {
        "name": name,
        "namespace": queue.namespace,
        "labels": labels(queue, spec, target),
        "ownerReferences": [
            {
                "apiVersion": constants.API_VERSION,
                "kind": constants.KIND,
                "name": queue.name,
                "uid": queue.uid,
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ],
    }


def worker_deployment(
    queue: QueueIdentity,
    spec: WorkflowQueueSpec,
    target: Target,
    *,
    fixed_replicas: int | None,
) -> Manifest:
    """The worker Deployment. `fixed_replicas` None leaves the replica count to the HPA."""
    names = child_names(queue.name)
    worker = spec.worker
    volumes: list[Manifest] = [
        {"name": _TMP_VOLUME, "emptyDir": {"sizeLimit": _TMP_SIZE_LIMIT}},
    ]
    mounts: list[Manifest] = [{"name": _TMP_VOLUME, "mountPath": constants.TMP_MOUNT_PATH}]
    cert_secret = spec.temporal.client_cert_secret
    if cert_secret is not None:
        volumes.append({"name": _TLS_VOLUME, "secret": {"secretName": cert_secret}})
        mounts.append(
            {"name": _TLS_VOLUME, "mountPath": constants.TLS_MOUNT_PATH, "readOnly": True}
        )

    container: Manifest = {
        "name": constants.WORKER_CONTAINER,
        "image": target.image,
        "imagePullPolicy": worker.image_pull_policy,
        "args": list(constants.WORKER_ARGS),
        # A worker that exits on bad settings says why in its last log line; this puts that
        # line into the pod's status, where the operator reads it for the queue's status.
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "env": _worker_env(spec, target) + [dict(item) for item in worker.env],
        "ports": [
            {
                "name": _HEALTH_PORT_NAME,
                "containerPort": contract.DEFAULT_HEALTH_PORT,
                "protocol": "TCP",
            },
            {
                "name": _METRICS_PORT_NAME,
                "containerPort": contract.DEFAULT_METRICS_PORT,
                "protocol": "TCP",
            },
        ],
        "livenessProbe": {
            "httpGet": {"path": contract.HEALTH_PATH, "port": _HEALTH_PORT_NAME},
            "periodSeconds": 10,
            "timeoutSeconds": 2,
            "failureThreshold": 3,
        },
        "readinessProbe": {
            "httpGet": {"path": contract.READY_PATH, "port": _HEALTH_PORT_NAME},
            "periodSeconds": 5,
            "timeoutSeconds": 2,
            "failureThreshold": 2,
        },
        "resources": _plain(worker.resources),
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "runAsUser": worker.run_as_user,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "volumeMounts": mounts,
    }
    template = worker.template
    for extra in template.containers:
        if extra.get("name") == constants.WORKER_CONTAINER:
            # Appended after the operator's; its env (set explicitly) wins over envFrom.
            mounts.extend(_plain(extra.get("volumeMounts") or []))
            if extra.get("envFrom"):
                container["envFrom"] = _plain(extra["envFrom"])
    volumes.extend(_plain(template.volumes))
    sidecars = [
        _restricted(extra)
        for extra in template.containers
        if extra.get("name") != constants.WORKER_CONTAINER
    ]
    pod_spec: Manifest = {
        "containers": [container, *sidecars],
        "volumes": volumes,
        "terminationGracePeriodSeconds": contract.termination_grace_period_seconds(
            worker.graceful_shutdown_seconds
        ),
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": worker.run_as_user,
            "runAsGroup": worker.run_as_user,
            "fsGroup": worker.run_as_user,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "enableServiceLinks": False,
    }
    if worker.service_account_name:
        pod_spec["serviceAccountName"] = worker.service_account_name
    else:
        # Workers talk to Temporal, not to the Kubernetes API.
        pod_spec["automountServiceAccountToken"] = False
    if worker.node_selector:
        pod_spec["nodeSelector"] = dict(worker.node_selector)
    if worker.tolerations:
        pod_spec["tolerations"] = [_plain(item) for item in worker.tolerations]
    if worker.affinity:
        pod_spec["affinity"] = _plain(worker.affinity)
    if worker.topology_spread_constraints:
        pod_spec["topologySpreadConstraints"] = [
            _plain(item) for item in worker.topology_spread_constraints
        ]
    if worker.priority_class_name:
        pod_spec["priorityClassName"] = worker.priority_class_name
    if template.init_containers:
        pod_spec["initContainers"] = [_restricted(extra) for extra in template.init_containers]
    pull_secrets = dict.fromkeys((*target.image_pull_secrets, *template.image_pull_secrets))
    if pull_secrets:
        pod_spec["imagePullSecrets"] = [{"name": name} for name in pull_secrets]
    # Defaults, then the queue's template, then the operator's own labels: later ones win.
    pod_metadata: Manifest = {
        "labels": {**dict(target.pod_labels), **template.labels, **labels(queue, spec, target)}
    }
    annotations = {**dict(target.pod_annotations), **template.annotations}
    if annotations:
        pod_metadata["annotations"] = annotations

    deployment_spec: Manifest = {
        "selector": {"matchLabels": selector_labels(queue)},
        "revisionHistoryLimit": 3,
        "strategy": {
            "type": "RollingUpdate",
            # Never drop below the current capacity while rolling: surge instead.
            "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0},
        },
        "template": {"metadata": pod_metadata, "spec": pod_spec},
    }
    if fixed_replicas is not None:
        deployment_spec["replicas"] = fixed_replicas
    return {
        "apiVersion": constants.DEPLOYMENT.api_version,
        "kind": constants.DEPLOYMENT.kind,
        "metadata": _metadata(names.deployment, queue, spec, target),
        "spec": deployment_spec,
    }


def _worker_env(spec: WorkflowQueueSpec, target: Target) -> list[Manifest]:
    worker, temporal = spec.worker, spec.temporal
    env: list[Manifest] = [
        {"name": contract.ENV_TASK_QUEUE, "value": spec.task_queue},
        {"name": contract.ENV_TEMPORAL_ADDRESS, "value": target.temporal_address},
        {"name": contract.ENV_TEMPORAL_NAMESPACE, "value": target.temporal_namespace},
        {
            "name": contract.ENV_GRACEFUL_SHUTDOWN_SECONDS,
            "value": str(worker.graceful_shutdown_seconds),
        },
        {"name": contract.ENV_HEALTH_PORT, "value": str(contract.DEFAULT_HEALTH_PORT)},
        {"name": contract.ENV_METRICS_PORT, "value": str(contract.DEFAULT_METRICS_PORT)},
        {"name": contract.ENV_LOG_FORMAT, "value": "json"},
    ]
    if worker.registrars:
        env.append({"name": contract.ENV_REGISTRARS, "value": ",".join(worker.registrars)})
    if worker.max_concurrent_activities is not None:
        env.append(
            {
                "name": contract.ENV_MAX_CONCURRENT_ACTIVITIES,
                "value": str(worker.max_concurrent_activities),
            }
        )
    if worker.max_concurrent_workflow_tasks is not None:
        env.append(
            {
                "name": contract.ENV_MAX_CONCURRENT_WORKFLOW_TASKS,
                "value": str(worker.max_concurrent_workflow_tasks),
            }
        )
    if worker.deployment_name is not None and worker.build_id is not None:
        env.append({"name": contract.ENV_DEPLOYMENT_NAME, "value": worker.deployment_name})
        env.append({"name": contract.ENV_BUILD_ID, "value": worker.build_id})
    tls = temporal.tls
    if temporal.tls_enabled:
        env.append({"name": contract.ENV_TEMPORAL_TLS, "value": "true"})
    if tls is not None and tls.enabled:
        if tls.secret_name is not None:
            env.append(
                {
                    "name": contract.ENV_TEMPORAL_TLS_CLIENT_CERT_PATH,
                    "value": f"{constants.TLS_MOUNT_PATH}/{TLS_CERT_KEY}",
                }
            )
            env.append(
                {
                    "name": contract.ENV_TEMPORAL_TLS_CLIENT_KEY_PATH,
                    "value": f"{constants.TLS_MOUNT_PATH}/{TLS_KEY_KEY}",
                }
            )
        if tls.ca_key is not None:
            env.append(
                {
                    "name": contract.ENV_TEMPORAL_TLS_SERVER_CA_CERT_PATH,
                    "value": f"{constants.TLS_MOUNT_PATH}/{tls.ca_key}",
                }
            )
        if tls.server_name is not None:
            env.append({"name": contract.ENV_TEMPORAL_TLS_SERVER_NAME, "value": tls.server_name})
    if temporal.api_key_secret is not None:
        env.append(
            {
                "name": contract.ENV_TEMPORAL_API_KEY,
                "valueFrom": {
                    "secretKeyRef": {
                        "name": temporal.api_key_secret.name,
                        "key": temporal.api_key_secret.key,
                    }
                },
            }
        )
    return env


def needs_trigger_authentication(spec: WorkflowQueueSpec) -> bool:
    return spec.temporal.client_cert_secret is not None or spec.temporal.api_key_secret is not None


def trigger_authentication(
    queue: QueueIdentity, spec: WorkflowQueueSpec, target: Target
) -> Manifest:
    """KEDA's view of the same Secrets the workers use: referenced by name, never copied."""
    refs: list[Manifest] = []
    temporal = spec.temporal
    cert_secret = temporal.client_cert_secret
    if cert_secret is not None:
        refs.append({"parameter": "cert", "name": cert_secret, "key": TLS_CERT_KEY})
        refs.append({"parameter": "key", "name": cert_secret, "key": TLS_KEY_KEY})
        if temporal.tls is not None and temporal.tls.ca_key is not None:
            refs.append({"parameter": "ca", "name": cert_secret, "key": temporal.tls.ca_key})
    if temporal.api_key_secret is not None:
        refs.append(
            {
                "parameter": "apiKey",
                "name": temporal.api_key_secret.name,
                "key": temporal.api_key_secret.key,
            }
        )
    return {
        "apiVersion": constants.TRIGGER_AUTHENTICATION.api_version,
        "kind": constants.TRIGGER_AUTHENTICATION.kind,
        "metadata": _metadata(child_names(queue.name).trigger_authentication, queue, spec, target),
        "spec": {"secretTargetRef": refs},
    }


def scaled_object(queue: QueueIdentity, spec: WorkflowQueueSpec, target: Target) -> Manifest:
    """A ScaledObject with KEDA's built-in `temporal` trigger on the queue's backlog."""
    names = child_names(queue.name)
    scaling, temporal, worker = spec.scaling, spec.temporal, spec.worker
    # KEDA's trigger metadata is a map of strings.
    metadata: dict[str, str] = {
        "endpoint": target.temporal_address,
        "namespace": target.temporal_namespace,
        "taskQueue": spec.task_queue,
        "targetQueueSize": str(scaling.target_backlog_per_replica),
        "activationTargetQueueSize": str(scaling.activation_backlog),
        "queueTypes": ",".join(scaling.queue_types),
    }
    if worker.deployment_name is not None and worker.build_id is not None:
        metadata["workerDeploymentName"] = worker.deployment_name
        metadata["workerDeploymentBuildId"] = worker.build_id
    if temporal.tls is not None and temporal.tls.enabled and temporal.tls.server_name:
        metadata["tlsServerName"] = temporal.tls.server_name
    if temporal.api_key_secret is not None:
        # Consulted with an API key and no client certificate; an API key implies TLS.
        metadata["enableTLS"] = "true"
    trigger: Manifest = {"type": "temporal", "name": _TRIGGER_NAME, "metadata": metadata}
    if needs_trigger_authentication(spec):
        trigger["authenticationRef"] = {
            "name": names.trigger_authentication,
            "kind": constants.TRIGGER_AUTHENTICATION.kind,
        }
    so_spec: Manifest = {
        "scaleTargetRef": {
            "apiVersion": constants.DEPLOYMENT.api_version,
            "kind": constants.DEPLOYMENT.kind,
            "name": names.deployment,
        },
        "pollingInterval": scaling.polling_interval_seconds,
        "cooldownPeriod": scaling.cooldown_seconds,
        "minReplicaCount": scaling.min_replicas,
        "maxReplicaCount": scaling.max_replicas,
        "advanced": {
            "horizontalPodAutoscalerConfig": {
                "behavior": {
                    "scaleDown": {
                        "stabilizationWindowSeconds": scaling.scale_down_stabilization_seconds
                    }
                }
            }
        },
        "triggers": [trigger],
    }
    if scaling.fallback is not None:
        so_spec["fallback"] = {
            "failureThreshold": scaling.fallback.failure_threshold,
            "replicas": scaling.fallback.replicas,
        }
    return {
        "apiVersion": constants.SCALED_OBJECT.api_version,
        "kind": constants.SCALED_OBJECT.kind,
        "metadata": _metadata(names.scaled_object, queue, spec, target),
        "spec": so_spec,
    }


def pod_disruption_budget(
    queue: QueueIdentity, spec: WorkflowQueueSpec, target: Target
) -> Manifest:
    """Voluntary disruptions (drains) take at most one healthy worker at a time.

    Unready workers may always be evicted (AlwaysAllow): readiness follows Temporal's
    health, so while Temporal is down every pod is unready, and the default policy would
    then block every node drain until Temporal came back. An unready worker serves nothing
    the budget could protect.
    """
    return {
        "apiVersion": constants.POD_DISRUPTION_BUDGET.api_version,
        "kind": constants.POD_DISRUPTION_BUDGET.kind,
        "metadata": _metadata(child_names(queue.name).pod_disruption_budget, queue, spec, target),
        "spec": {
            "maxUnavailable": 1,
            "unhealthyPodEvictionPolicy": "AlwaysAllow",
            "selector": {"matchLabels": selector_labels(queue)},
        },
    }


def pod_monitor(queue: QueueIdentity, spec: WorkflowQueueSpec, target: Target) -> Manifest:
    """Scrapes the workers' metrics port; carries the configured labels so that a Prometheus
    with a label selector (kube-prometheus-stack's `release`) picks it up."""
    metadata = _metadata(child_names(queue.name).pod_monitor, queue, spec, target)
    # The operator's own labels win: its watches and the status select children by them.
    metadata["labels"] = {**dict(target.pod_monitor_labels), **metadata["labels"]}
    return {
        "apiVersion": constants.POD_MONITOR.api_version,
        "kind": constants.POD_MONITOR.kind,
        "metadata": metadata,
        "spec": {
            "selector": {"matchLabels": selector_labels(queue)},
            "podMetricsEndpoints": [{"port": _METRICS_PORT_NAME, "path": contract.METRICS_PATH}],
        },
    }


def config_hash(manifest: Mapping[str, Any]) -> str:
    canonical = json.dumps(manifest, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def replicas_hand_over(deployment: Manifest, replicas: int) -> Manifest:
    """Only the Deployment's replica count, applied by the hand-off manager to keep it."""
    metadata = deployment["metadata"]
    return {
        "apiVersion": deployment["apiVersion"],
        "kind": deployment["kind"],
        "metadata": {"name": metadata["name"], "namespace": metadata["namespace"]},
        "spec": {"replicas": replicas},
    }


def with_config_hash(manifest: Manifest) -> Manifest:
    """The manifest annotated with the hash of everything else in it."""
    digest = config_hash(manifest)
    metadata = dict(manifest["metadata"])
    metadata["annotations"] = {
        **metadata.get("annotations", {}),
        constants.CONFIG_HASH_ANNOTATION: digest,
    }
    return {**manifest, "metadata": metadata}


def _restricted(container: Mapping[str, Any]) -> Manifest:
    """A template container with what Pod Security "restricted" requires filled in.

    The CRD already refuses values that contradict it; this sets what a container must say
    explicitly (the pod-level context covers runAsNonRoot and seccomp).
    """
    result: Manifest = _plain(container)
    security = dict(result.get("securityContext") or {})
    security["allowPrivilegeEscalation"] = False
    capabilities = dict(security.get("capabilities") or {})
    capabilities["drop"] = list(dict.fromkeys([*(capabilities.get("drop") or []), "ALL"]))
    security["capabilities"] = capabilities
    result["securityContext"] = security
    return result


def _plain(value: Any) -> Any:
    """A deep copy made of plain dicts and lists, as JSON needs."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _image_tag(image: str) -> str | None:
    reference = image.split("@", 1)[0]
    name, _, tag = reference.rpartition(":")
    if not name or "/" in tag:
        return None
    return tag


def _is_label_value(value: str) -> bool:
    if len(value) > 63:
        return False
    allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
    return set(value) <= allowed and value[0].isalnum() and value[-1].isalnum()
