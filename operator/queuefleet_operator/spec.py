"""A typed, frozen view of a WorkflowQueue's spec.

The API server already validated and defaulted the object against the CRD; parsing again
keeps the planner honest about types and gives a clear error naming the field when an
object slipped past validation (e.g. stored before a CRD upgrade). The defaults here mirror
the CRD's; a unit test keeps the two in step.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from queuefleet_worker import contract

from . import constants

__all__ = [
    "ApiKeySecret",
    "Fallback",
    "QueueIdentity",
    "ScalingSpec",
    "SpecError",
    "TLSSpec",
    "TemporalSpec",
    "WorkerPodTemplate",
    "WorkerSpec",
    "WorkflowQueueSpec",
    "parse_endpoint",
    "parse_spec",
    "quantity",
]

QUEUE_TYPES = ("workflow", "activity", "nexus")


class SpecError(ValueError):
    """A spec field has a value the operator cannot use; the message names the field."""


@dataclass(frozen=True, kw_only=True)
class QueueIdentity:
    """Which WorkflowQueue object this is: what children need for names and owner references."""

    namespace: str
    name: str
    uid: str
    generation: int = 0

    @classmethod
    def of(cls, body: Mapping[str, Any]) -> QueueIdentity:
        metadata = body.get("metadata", {})
        return cls(
            namespace=str(metadata.get("namespace", "")),
            name=str(metadata.get("name", "")),
            uid=str(metadata.get("uid", "")),
            generation=int(metadata.get("generation") or 0),
        )


@dataclass(frozen=True, kw_only=True)
class TLSSpec:
    enabled: bool = True
    secret_name: str | None = None
    ca_key: str | None = None
    server_name: str | None = None


@dataclass(frozen=True, kw_only=True)
class ApiKeySecret:
    name: str
    key: str = "api-key"


@dataclass(frozen=True, kw_only=True)
class TemporalSpec:
    address: str | None = None
    namespace: str | None = None
    tls: TLSSpec | None = None
    api_key_secret: ApiKeySecret | None = None
    # The TemporalConnection (same namespace) that supplies address, TLS and API key.
    connection_ref: str | None = None

    @property
    def inline_credentials(self) -> str | None:
        """The spec field naming a Secret itself (instead of through a connection), if any."""
        if self.api_key_secret is not None:
            return "spec.temporal.apiKeySecret"
        if self.client_cert_secret is not None:
            return "spec.temporal.tls.secretName"
        return None

    @property
    def tls_enabled(self) -> bool:
        """TLS is on when asked for, and always with an API key: Temporal Cloud and KEDA's
        temporal scaler (the Go SDK turns TLS on whenever an API key is set) need it."""
        return (self.tls is not None and self.tls.enabled) or self.api_key_secret is not None

    @property
    def client_cert_secret(self) -> str | None:
        return self.tls.secret_name if self.tls is not None and self.tls.enabled else None


@dataclass(frozen=True, kw_only=True)
class WorkerPodTemplate:
    """`spec.worker.template`: what a queue adds to its worker pods (Pod-shaped, as JSON)."""

    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    image_pull_secrets: tuple[str, ...] = ()
    volumes: tuple[Mapping[str, Any], ...] = ()
    init_containers: tuple[Mapping[str, Any], ...] = ()
    # Sidecars; the one named like the worker container only adds mounts and envFrom.
    containers: tuple[Mapping[str, Any], ...] = ()

    @property
    def images(self) -> tuple[str, ...]:
        """Every image the template brings (what an image policy must allow)."""
        return tuple(
            str(c["image"]) for c in (*self.init_containers, *self.containers) if c.get("image")
        )


@dataclass(frozen=True, kw_only=True)
class WorkerSpec:
    image: str | None = None
    image_pull_policy: str = "IfNotPresent"
    registrars: tuple[str, ...] = ()
    env: tuple[Mapping[str, Any], ...] = ()
    resources: Mapping[str, Any] = field(
        default_factory=lambda: {
            "requests": {"cpu": "100m", "memory": "256Mi"},
            "limits": {"memory": "512Mi"},
        }
    )
    max_concurrent_activities: int | None = None
    max_concurrent_workflow_tasks: int | None = None
    graceful_shutdown_seconds: int = 30
    deployment_name: str | None = None
    build_id: str | None = None
    service_account_name: str | None = None
    run_as_user: int = 10001  # the image's USER (Dockerfile)
    node_selector: Mapping[str, str] = field(default_factory=dict)
    tolerations: tuple[Mapping[str, Any], ...] = ()
    affinity: Mapping[str, Any] | None = None
    topology_spread_constraints: tuple[Mapping[str, Any], ...] = ()
    priority_class_name: str | None = None
    template: WorkerPodTemplate = field(default_factory=WorkerPodTemplate)

    @property
    def versioned(self) -> bool:
        return self.deployment_name is not None and self.build_id is not None


@dataclass(frozen=True, kw_only=True)
class Fallback:
    replicas: int
    failure_threshold: int = 3


@dataclass(frozen=True, kw_only=True)
class ScalingSpec:
    min_replicas: int = 1
    max_replicas: int = 10
    target_backlog_per_replica: int = 5
    activation_backlog: int = 0
    queue_types: tuple[str, ...] = ("workflow", "activity")
    polling_interval_seconds: int = 15
    cooldown_seconds: int = 300
    scale_down_stabilization_seconds: int = 300
    fallback: Fallback | None = None


@dataclass(frozen=True, kw_only=True)
class WorkflowQueueSpec:
    task_queue: str
    paused: bool = False
    temporal: TemporalSpec = field(default_factory=TemporalSpec)
    worker: WorkerSpec = field(default_factory=WorkerSpec)
    scaling: ScalingSpec = field(default_factory=ScalingSpec)


def parse_spec(spec: Mapping[str, Any]) -> WorkflowQueueSpec:
    """The typed view of `spec`; raises SpecError naming the first unusable field."""
    reader = _Reader(spec, "spec")
    temporal = reader.child("temporal")
    worker = reader.child("worker")
    scaling = reader.child("scaling")
    parsed = WorkflowQueueSpec(
        task_queue=reader.string("taskQueue", required=True) or "",
        paused=reader.boolean("paused", False),
        temporal=_temporal(temporal),
        worker=_worker(worker),
        scaling=_scaling(scaling),
    )
    _check_cross_field(parsed)
    return parsed


def _temporal(reader: _Reader) -> TemporalSpec:
    ref = reader.child("connectionRef") if "connectionRef" in reader.data else None
    temporal = parse_endpoint(reader.data, reader.path)
    if ref is None:
        return temporal
    if temporal.address or temporal.tls or temporal.api_key_secret:
        raise SpecError(
            f"{reader.path}.connectionRef takes the address, TLS and API key from the "
            f"TemporalConnection; remove {reader.path}.address, tls and apiKeySecret"
        )
    return TemporalSpec(
        namespace=temporal.namespace, connection_ref=ref.string("name", required=True)
    )


def parse_endpoint(data: Mapping[str, Any], path: str) -> TemporalSpec:
    """Address, namespace, TLS and API key as a queue's spec.temporal or a TemporalConnection's
    spec holds them; `path` prefixes the field names in errors."""
    reader = _Reader(data, path)
    tls = reader.child("tls") if "tls" in reader.data else None
    api_key = reader.child("apiKeySecret") if "apiKeySecret" in reader.data else None
    address = reader.string("address")
    if address is not None:
        _check_address(address, f"{path}.address")
    temporal = TemporalSpec(
        address=address,
        namespace=reader.string("namespace"),
        tls=TLSSpec(
            enabled=tls.boolean("enabled", True),
            secret_name=tls.string("secretName"),
            ca_key=tls.string("caKey"),
            server_name=tls.string("serverName"),
        )
        if tls is not None
        else None,
        api_key_secret=ApiKeySecret(
            name=api_key.string("name", required=True) or "",
            key=api_key.string("key") or "api-key",
        )
        if api_key is not None
        else None,
    )
    _check_temporal(temporal, path)
    return temporal


def _check_address(address: str, field: str) -> None:
    """host:port with a port from 1 to 65535 (the CRD's rule, for objects stored before it)."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise SpecError(
            f"{field} must look like host:port with a port from 1 to 65535, got {address!r}"
        )


def _worker(reader: _Reader) -> WorkerSpec:
    defaults = WorkerSpec()
    concurrency = reader.child("concurrency")
    return WorkerSpec(
        image=reader.string("image"),
        image_pull_policy=reader.string("imagePullPolicy") or defaults.image_pull_policy,
        registrars=tuple(reader.strings("registrars")),
        env=_extra_env(reader),
        resources=reader.mapping("resources", defaults.resources),
        max_concurrent_activities=concurrency.integer("maxConcurrentActivities", None, minimum=1),
        # The worker refuses fewer than 2 (a sticky and a normal workflow task poller).
        max_concurrent_workflow_tasks=concurrency.integer(
            "maxConcurrentWorkflowTasks", None, minimum=2
        ),
        graceful_shutdown_seconds=reader.integer(
            "gracefulShutdownSeconds", defaults.graceful_shutdown_seconds, minimum=0
        )
        or 0,
        deployment_name=reader.string("deploymentName"),
        build_id=reader.string("buildId"),
        service_account_name=reader.string("serviceAccountName"),
        run_as_user=reader.integer("runAsUser", defaults.run_as_user, minimum=1)
        or defaults.run_as_user,
        node_selector={k: str(v) for k, v in reader.mapping("nodeSelector", {}).items()},
        tolerations=tuple(reader.objects("tolerations")),
        affinity=reader.mapping("affinity", None) or None,
        topology_spread_constraints=tuple(reader.objects("topologySpreadConstraints")),
        priority_class_name=_dns_subdomain(reader, "priorityClassName"),
        template=_template(reader.child("template")),
    )


# The pod parts the operator itself writes (manifests.worker_deployment); a template that
# names them would be overwritten, so it is refused instead, as the CRD does.
OPERATOR_VOLUMES = ("tmp", "temporal-tls")
_WORKER_CONTAINER_FIELDS = frozenset({"name", "volumeMounts", "envFrom"})
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_OPERATOR_LABEL_PREFIX = "app.kubernetes.io/"


def _dns_subdomain(reader: _Reader, key: str) -> str | None:
    value = reader.string(key)
    if value is not None and (len(value) > 253 or not _DNS_SUBDOMAIN.fullmatch(value)):
        raise SpecError(f"{reader.path}.{key} must be a lowercase DNS subdomain, got {value!r}")
    return value


def _template(reader: _Reader) -> WorkerPodTemplate:
    metadata = reader.child("metadata")
    pod = reader.child("spec")
    labels = {str(k): str(v) for k, v in metadata.mapping("labels", {}).items()}
    for key in labels:
        if key.startswith(_OPERATOR_LABEL_PREFIX):
            raise SpecError(f"{metadata.path}.labels: {key} is set by the operator on worker pods")
    volumes = tuple(pod.objects("volumes"))
    for index, volume in enumerate(volumes):
        if volume.get("name") in OPERATOR_VOLUMES:
            raise SpecError(
                f"{pod.path}.volumes[{index}].name: {volume.get('name')} is a volume the "
                "operator adds"
            )
    containers = tuple(pod.objects("containers"))
    for index, container in enumerate(containers):
        _check_template_container(container, f"{pod.path}.containers[{index}]")
    init_containers = tuple(pod.objects("initContainers"))
    for index, container in enumerate(init_containers):
        if container.get("name") == constants.WORKER_CONTAINER or not container.get("image"):
            raise SpecError(
                f"{pod.path}.initContainers[{index}] needs an image and must not be named "
                f"{constants.WORKER_CONTAINER}"
            )
    return WorkerPodTemplate(
        labels=labels,
        annotations={str(k): str(v) for k, v in metadata.mapping("annotations", {}).items()},
        image_pull_secrets=tuple(
            str(item["name"]) for item in pod.objects("imagePullSecrets") if item.get("name")
        ),
        volumes=volumes,
        init_containers=init_containers,
        containers=containers,
    )


def _check_template_container(container: Mapping[str, Any], where: str) -> None:
    if container.get("name") != constants.WORKER_CONTAINER:
        if not container.get("image"):
            raise SpecError(f"{where}.image is required for a sidecar")
        return
    extra = sorted(set(container) - _WORKER_CONTAINER_FIELDS)
    if extra:
        raise SpecError(
            f"{where}: the {constants.WORKER_CONTAINER} container may only add volumeMounts "
            f"and envFrom, not {', '.join(extra)} (use the spec.worker fields)"
        )
    for mount in container.get("volumeMounts") or ():
        path = mount.get("mountPath") if isinstance(mount, Mapping) else None
        if path in (constants.TMP_MOUNT_PATH, constants.TLS_MOUNT_PATH):
            raise SpecError(f"{where}.volumeMounts: {path} is mounted by the operator")


def _extra_env(reader: _Reader) -> tuple[Mapping[str, Any], ...]:
    entries = tuple(reader.objects("env"))
    for index, entry in enumerate(entries):
        if entry.get("name") in contract.DEPLOYER_ENV:
            raise SpecError(
                f"{reader.path}.env[{index}].name: {entry.get('name')} is set by the operator "
                "from spec fields and cannot be overridden"
            )
    return entries


def _scaling(reader: _Reader) -> ScalingSpec:
    d = ScalingSpec()
    fallback = reader.child("fallback") if "fallback" in reader.data else None
    queue_types = tuple(reader.strings("queueTypes")) or d.queue_types
    for queue_type in queue_types:
        if queue_type not in QUEUE_TYPES:
            raise SpecError(
                f"spec.scaling.queueTypes: {queue_type!r} is not one of {', '.join(QUEUE_TYPES)}"
            )

    def integer(key: str, default: int, minimum: int) -> int:
        value = reader.integer(key, default, minimum=minimum)
        return default if value is None else value

    return ScalingSpec(
        min_replicas=integer("minReplicas", d.min_replicas, 0),
        max_replicas=integer("maxReplicas", d.max_replicas, 1),
        target_backlog_per_replica=integer(
            "targetBacklogPerReplica", d.target_backlog_per_replica, 1
        ),
        activation_backlog=integer("activationBacklog", d.activation_backlog, 0),
        queue_types=tuple(dict.fromkeys(queue_types)),
        polling_interval_seconds=integer("pollingIntervalSeconds", d.polling_interval_seconds, 1),
        cooldown_seconds=integer("cooldownSeconds", d.cooldown_seconds, 0),
        scale_down_stabilization_seconds=integer(
            "scaleDownStabilizationSeconds", d.scale_down_stabilization_seconds, 0
        ),
        fallback=Fallback(
            replicas=fallback.integer("replicas", None, minimum=0, required=True) or 0,
            failure_threshold=fallback.integer("failureThreshold", 3, minimum=1) or 3,
        )
        if fallback is not None
        else None,
    )


def _check_cross_field(spec: WorkflowQueueSpec) -> None:
    scaling, worker = spec.scaling, spec.worker
    _check_requests_within_limits(worker.resources)
    if scaling.min_replicas > scaling.max_replicas:
        raise SpecError(
            f"spec.scaling.minReplicas ({scaling.min_replicas}) must be less than or equal to "
            f"spec.scaling.maxReplicas ({scaling.max_replicas})"
        )
    if (worker.deployment_name is None) != (worker.build_id is None):
        raise SpecError("spec.worker.deploymentName and spec.worker.buildId must be set together")
    if worker.deployment_name is not None and (
        "." in worker.deployment_name or ":" in worker.deployment_name
    ):
        name = worker.deployment_name
        raise SpecError(f"spec.worker.deploymentName must not contain ':' or '.', got {name!r}")


def _check_temporal(temporal: TemporalSpec, path: str) -> None:
    tls = temporal.tls
    if tls is not None and tls.enabled and tls.secret_name is None and not temporal.api_key_secret:
        raise SpecError(f"{path}.tls without {path}.tls.secretName needs {path}.apiKeySecret")
    if tls is not None and not tls.enabled and temporal.api_key_secret is not None:
        raise SpecError(f"{path}.apiKeySecret needs TLS; remove {path}.tls.enabled: false")
    if tls is not None and tls.ca_key is not None and tls.secret_name is None:
        raise SpecError(f"{path}.tls.caKey needs {path}.tls.secretName")


_QUANTITY = re.compile(
    r"([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))([KMGTPE]i|[numkMGTPE]|[eE][+-]?[0-9]+)?"
)
_BINARY = ("Ki", "Mi", "Gi", "Ti", "Pi", "Ei")
_DECIMAL = ("k", "M", "G", "T", "P", "E")
_SUFFIXES = {
    **{suffix: Fraction(1024) ** (i + 1) for i, suffix in enumerate(_BINARY)},
    **{suffix: Fraction(1000) ** (i + 1) for i, suffix in enumerate(_DECIMAL)},
    "n": Fraction(1, 10**9),
    "u": Fraction(1, 10**6),
    "m": Fraction(1, 1000),
    "": Fraction(1),
}


def quantity(value: Any) -> Fraction | None:
    """A Kubernetes quantity ("1500m", "1Gi", 2) as an exact number; None if it is not one."""
    match = _QUANTITY.fullmatch(str(value))
    if match is None:
        return None
    number, suffix = Fraction(match[1]), match[2] or ""
    if suffix[:1] in ("e", "E"):
        return number * Fraction(10) ** int(suffix[1:])
    return number * _SUFFIXES[suffix]


def _check_requests_within_limits(resources: Mapping[str, Any]) -> None:
    requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
    for name, limit in limits.items():
        if name not in requests:
            continue
        request_value, limit_value = quantity(requests[name]), quantity(limit)
        if request_value is not None and limit_value is not None and request_value > limit_value:
            raise SpecError(
                f"spec.worker.resources.requests.{name} ({requests[name]}) must not exceed "
                f"spec.worker.resources.limits.{name} ({limit})"
            )


@dataclass(frozen=True)
class _Reader:
    """Typed access to one level of the spec, naming the field path in errors."""

    data: Mapping[str, Any]
    path: str

    def child(self, key: str) -> _Reader:
        value = self.data.get(key)
        if value is None:
            return _Reader({}, f"{self.path}.{key}")
        if not isinstance(value, Mapping):
            raise SpecError(f"{self.path}.{key} must be an object, got {type(value).__name__}")
        return _Reader(value, f"{self.path}.{key}")

    def string(self, key: str, *, required: bool = False) -> str | None:
        value = self.data.get(key)
        if value is None or value == "":
            if required:
                raise SpecError(f"{self.path}.{key} is required")
            return None
        if not isinstance(value, str):
            raise SpecError(f"{self.path}.{key} must be a string, got {type(value).__name__}")
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self.data.get(key, default)
        if not isinstance(value, bool):
            raise SpecError(f"{self.path}.{key} must be true or false, got {value!r}")
        return value

    def integer(
        self, key: str, default: int | None, *, minimum: int, required: bool = False
    ) -> int | None:
        value = self.data.get(key)
        if value is None:
            if required:
                raise SpecError(f"{self.path}.{key} is required")
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            raise SpecError(f"{self.path}.{key} must be an integer, got {value!r}")
        if value < minimum:
            raise SpecError(f"{self.path}.{key} must be at least {minimum}, got {value}")
        return value

    def strings(self, key: str) -> Sequence[str]:
        value = self.data.get(key) or []
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise SpecError(f"{self.path}.{key} must be a list of strings")
        return value

    def objects(self, key: str) -> Sequence[Mapping[str, Any]]:
        value = self.data.get(key) or []
        if not isinstance(value, list) or not all(isinstance(item, Mapping) for item in value):
            raise SpecError(f"{self.path}.{key} must be a list of objects")
        return value

    def mapping(self, key: str, default: Any) -> Any:
        value = self.data.get(key)
        if value is None:
            return default
        if not isinstance(value, Mapping):
            raise SpecError(f"{self.path}.{key} must be an object")
        return value
