"""The contract between a worker pod and whatever deploys it (the operator, the chart).

One home for the names both sides use: environment variables, ports, probe paths and
the rule for the pod's termination grace period. The operator renders Deployments from
these constants; the worker runtime reads its settings through them.
"""

from __future__ import annotations

from typing import Final

# Temporal connection: read by temporalio.envconfig, so they follow its names exactly.
ENV_TEMPORAL_ADDRESS: Final = "TEMPORAL_ADDRESS"
ENV_TEMPORAL_NAMESPACE: Final = "TEMPORAL_NAMESPACE"
ENV_TEMPORAL_API_KEY: Final = "TEMPORAL_API_KEY"
ENV_TEMPORAL_TLS: Final = "TEMPORAL_TLS"
ENV_TEMPORAL_TLS_CLIENT_CERT_PATH: Final = "TEMPORAL_TLS_CLIENT_CERT_PATH"
ENV_TEMPORAL_TLS_CLIENT_KEY_PATH: Final = "TEMPORAL_TLS_CLIENT_KEY_PATH"
ENV_TEMPORAL_TLS_SERVER_CA_CERT_PATH: Final = "TEMPORAL_TLS_SERVER_CA_CERT_PATH"
ENV_TEMPORAL_TLS_SERVER_NAME: Final = "TEMPORAL_TLS_SERVER_NAME"
ENV_TEMPORAL_PROFILE: Final = "TEMPORAL_PROFILE"
ENV_TEMPORAL_CONFIG_FILE: Final = "TEMPORAL_CONFIG_FILE"
DEFAULT_TEMPORAL_ADDRESS: Final = "localhost:7233"
DEFAULT_TEMPORAL_NAMESPACE: Final = "default"

# OpenTelemetry: the standard variables; tracing is on only when an OTLP endpoint is set.
ENV_OTEL_EXPORTER_OTLP_ENDPOINT: Final = "OTEL_EXPORTER_OTLP_ENDPOINT"
ENV_OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: Final = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
ENV_OTEL_EXPORTER_OTLP_PROTOCOL: Final = "OTEL_EXPORTER_OTLP_PROTOCOL"
ENV_OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: Final = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
ENV_OTEL_SDK_DISABLED: Final = "OTEL_SDK_DISABLED"

# Worker settings owned by queuefleet.
ENV_TASK_QUEUE: Final = "QUEUEFLEET_TASK_QUEUE"
ENV_REGISTRARS: Final = "QUEUEFLEET_REGISTRARS"
ENV_MAX_CONCURRENT_ACTIVITIES: Final = "QUEUEFLEET_MAX_CONCURRENT_ACTIVITIES"
ENV_MAX_CONCURRENT_WORKFLOW_TASKS: Final = "QUEUEFLEET_MAX_CONCURRENT_WORKFLOW_TASKS"
ENV_WORKFLOW_TASK_POLLERS: Final = "QUEUEFLEET_WORKFLOW_TASK_POLLERS"
ENV_ACTIVITY_TASK_POLLERS: Final = "QUEUEFLEET_ACTIVITY_TASK_POLLERS"
ENV_POLLER_AUTOSCALING: Final = "QUEUEFLEET_POLLER_AUTOSCALING"
ENV_TUNER: Final = "QUEUEFLEET_TUNER"
ENV_TUNER_TARGET_MEMORY_USAGE: Final = "QUEUEFLEET_TUNER_TARGET_MEMORY_USAGE"
ENV_TUNER_TARGET_CPU_USAGE: Final = "QUEUEFLEET_TUNER_TARGET_CPU_USAGE"
ENV_GRACEFUL_SHUTDOWN_SECONDS: Final = "QUEUEFLEET_GRACEFUL_SHUTDOWN_SECONDS"
ENV_DEPLOYMENT_NAME: Final = "QUEUEFLEET_DEPLOYMENT_NAME"
ENV_BUILD_ID: Final = "QUEUEFLEET_BUILD_ID"
ENV_DEFAULT_VERSIONING_BEHAVIOR: Final = "QUEUEFLEET_DEFAULT_VERSIONING_BEHAVIOR"
ENV_LISTEN_HOST: Final = "QUEUEFLEET_LISTEN_HOST"
ENV_HEALTH_PORT: Final = "QUEUEFLEET_HEALTH_PORT"
ENV_METRICS_PORT: Final = "QUEUEFLEET_METRICS_PORT"
ENV_LOG_FORMAT: Final = "QUEUEFLEET_LOG_FORMAT"
ENV_LOG_LEVEL: Final = "QUEUEFLEET_LOG_LEVEL"

# Every variable a deployer (the operator) sets on a worker container from its own fields.
# A user's extra env must not repeat one (a duplicate key fails the Deployment, or silently
# overrides the field): the CRD's reserved-name rule is generated from this tuple
# (`python -m queuefleet_operator.crdgen`), and a unit test checks both stay in step.
DEPLOYER_ENV: Final = (
    ENV_TEMPORAL_ADDRESS,
    ENV_TEMPORAL_NAMESPACE,
    ENV_TEMPORAL_API_KEY,
    ENV_TEMPORAL_TLS,
    ENV_TEMPORAL_TLS_CLIENT_CERT_PATH,
    ENV_TEMPORAL_TLS_CLIENT_KEY_PATH,
    ENV_TEMPORAL_TLS_SERVER_CA_CERT_PATH,
    ENV_TEMPORAL_TLS_SERVER_NAME,
    ENV_TASK_QUEUE,
    ENV_REGISTRARS,
    ENV_MAX_CONCURRENT_ACTIVITIES,
    ENV_MAX_CONCURRENT_WORKFLOW_TASKS,
    ENV_GRACEFUL_SHUTDOWN_SECONDS,
    ENV_DEPLOYMENT_NAME,
    ENV_BUILD_ID,
    ENV_HEALTH_PORT,
    ENV_METRICS_PORT,
    ENV_LOG_FORMAT,
)

DEFAULT_LISTEN_HOST: Final = "0.0.0.0"  # noqa: S104 - probes and scrapes come from outside the pod

DEFAULT_HEALTH_PORT: Final = 8080
DEFAULT_METRICS_PORT: Final = 9464
HEALTH_PATH: Final = "/healthz"
READY_PATH: Final = "/readyz"
METRICS_PATH: Final = "/metrics"

DEFAULT_GRACEFUL_SHUTDOWN_SECONDS: Final = 30
# A day: the most a stopping worker may wait for in-flight activities (the CRD's bound too).
MAX_GRACEFUL_SHUTDOWN_SECONDS: Final = 86400
# Time between SIGTERM and the worker starting its drain is near zero, but the pod also
# needs to leave Service endpoints and flush telemetry after the drain ends.
TERMINATION_GRACE_MARGIN_SECONDS: Final = 15


def termination_grace_period_seconds(graceful_shutdown_seconds: int) -> int:
    """The pod's terminationGracePeriodSeconds for a worker draining for the given time.

    Kubernetes sends SIGKILL when the grace period ends; the worker must have finished
    its graceful shutdown (in-flight activities completing) and exited before that.
    """
    return graceful_shutdown_seconds + TERMINATION_GRACE_MARGIN_SECONDS
