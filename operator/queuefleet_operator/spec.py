"""A typed, frozen view of a WorkflowQueue's spec.

The API server already validated and defaulted the object against the CRD; parsing again
keeps the planner honest about types and gives a clear error naming the field when an
object slipped past validation (e.g. stored before a CRD upgrade). The defaults here mirror
the CRD's; a unit test keeps the two in step.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from queuefleet_worker import contract

__all__ = [
    "ApiKeySecret",
    "Fallback",
    "QueueIdentity",
    "ScalingSpec",
    "SpecError",
    "TLSSpec",
    "TemporalSpec",
    "WorkerSpec",
    "WorkflowQueueSpec",
    "parse_spec",
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

    @property
    def tls_enabled(self) -> bool:
        """TLS is on when asked for, and always with an API key: Temporal Cloud and KEDA's
        temporal scaler (the Go SDK turns TLS on whenever an API key is set) need it."""
        return (self.tls is not None and self.tls.enabled) or self.api_key_secret is not None

    @property
    def client_cert_secret(self) -> str | None:
        return self.tls.secret_name if self.tls is not None and self.tls.enabled else None


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
    tls = reader.child("tls") if "tls" in reader.data else None
    api_key = reader.child("apiKeySecret") if "apiKeySecret" in reader.data else None
    return TemporalSpec(
        address=reader.string("address"),
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
        priority_class_name=reader.string("priorityClassName"),
    )


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
    scaling, worker, temporal = spec.scaling, spec.worker, spec.temporal
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
    tls = temporal.tls
    if tls is not None and tls.enabled and tls.secret_name is None and not temporal.api_key_secret:
        raise SpecError(
            "spec.temporal.tls without spec.temporal.tls.secretName "
            "needs spec.temporal.apiKeySecret"
        )
    if tls is not None and not tls.enabled and temporal.api_key_secret is not None:
        raise SpecError(
            "spec.temporal.apiKeySecret needs TLS; remove spec.temporal.tls.enabled: false"
        )
    if tls is not None and tls.ca_key is not None and tls.secret_name is None:
        raise SpecError("spec.temporal.tls.caKey needs spec.temporal.tls.secretName")


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
