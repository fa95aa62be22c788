"""The operator's own settings, loaded once from the command line."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from . import constants

__all__ = ["ConfigError", "OperatorConfig", "parse_annotations", "parse_labels"]


class ConfigError(ValueError):
    """A setting of the operator is unusable; the message names the flag."""


@dataclass(frozen=True, kw_only=True)
class OperatorConfig:
    """Defaults for WorkflowQueues that leave fields empty, plus the operator's own timing."""

    temporal_address: str | None = None
    temporal_namespace: str = "default"
    worker_image: str | None = None
    # Namespaces watched; empty means the whole cluster.
    namespaces: tuple[str, ...] = ()
    # How often each queue's backlog is read and its children checked for drift.
    sync_interval_seconds: float = 30.0
    # Upper bound on one DescribeTaskQueue call (and on connecting for it).
    temporal_timeout_seconds: float = 5.0
    # Events on a queue's children arriving this close together share one reconcile: a new
    # Deployment reports several status changes within a second or two of rolling out.
    debounce_seconds: float = 1.0
    # Reconcile passes running at once, each with its own thread for blocking API calls.
    workers: int = 16
    # Credentials named in a WorkflowQueue itself (not through a TemporalConnection) are
    # refused unless this is set: a transition aid for one release (see docs/operator.md).
    allow_inline_credentials: bool = False
    # Addresses a WorkflowQueue may name in spec.temporal.address (connections and the
    # default address are always allowed); empty allows any.
    allowed_temporal_addresses: tuple[str, ...] = ()
    # Extra labels of every worker PodMonitor, e.g. (("release", "kube-prometheus-stack"),):
    # a Prometheus picks PodMonitors by label, and the stack's default selector is `release`.
    pod_monitor_labels: tuple[tuple[str, str], ...] = ()
    # What every worker pod gets (the chart's imagePullSecrets and workerDefaults); a
    # queue's spec.worker.template adds to these, the operator's own fields win over both.
    worker_image_pull_secrets: tuple[str, ...] = ()
    worker_pod_labels: tuple[tuple[str, str], ...] = ()
    worker_pod_annotations: tuple[tuple[str, str], ...] = ()
    # Policy for shared clusters; empty means any. A queue outside it is not applied.
    allowed_image_prefixes: tuple[str, ...] = ()
    allowed_service_accounts: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.sync_interval_seconds < 1:
            raise ConfigError(
                f"--sync-interval must be at least 1 second, got {self.sync_interval_seconds}"
            )
        if self.temporal_timeout_seconds <= 0:
            raise ConfigError(
                f"--temporal-timeout must be positive, got {self.temporal_timeout_seconds}"
            )
        if self.workers < 1:
            raise ConfigError(f"--workers must be at least 1, got {self.workers}")
        if not self.temporal_namespace:
            raise ConfigError("--temporal-namespace must not be empty")
        for key, value in self.pod_monitor_labels:
            _check_label(key, value, POD_MONITOR_LABELS_FLAG)
        for key, value in self.worker_pod_labels:
            _check_label(key, value, WORKER_POD_LABELS_FLAG)
        for name in (*self.worker_image_pull_secrets, *self.allowed_service_accounts):
            if len(name) > 253 or not _DNS_SUBDOMAIN.fullmatch(name):
                raise ConfigError(
                    "--worker-image-pull-secret and --allowed-service-account take object "
                    f"names (lowercase DNS subdomains), got {name!r}"
                )
        if any(not prefix.strip() for prefix in self.allowed_image_prefixes):
            raise ConfigError("--allowed-image-prefix must not be empty")


POD_MONITOR_LABELS_FLAG = "--pod-monitor-labels"
WORKER_POD_LABELS_FLAG = "--worker-pod-labels"
_LABEL_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def parse_labels(text: str, flag: str = POD_MONITOR_LABELS_FLAG) -> tuple[tuple[str, str], ...]:
    """`key=value,key=value` (as `kubectl label` writes them) into checked pairs."""
    pairs: dict[str, str] = {}
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"{flag} takes key=value pairs separated by commas, got {item!r}")
        if key in pairs:
            raise ConfigError(f"{flag} names the label {key!r} twice")
        _check_label(key, value.strip(), flag)
        pairs[key] = value.strip()
    return tuple(sorted(pairs.items()))


def parse_annotations(
    text: str, flag: str = "--worker-pod-annotations"
) -> tuple[tuple[str, str], ...]:
    """A JSON object of annotations (values are free text, so not key=value pairs)."""
    if not text.strip():
        return ()
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError(f"{flag} must be a JSON object: {error}") from error
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ConfigError(f"{flag} must be a JSON object of strings")
    return tuple(sorted(value.items()))


def _check_label(key: str, value: str, flag: str) -> None:
    prefix, _, name = key.rpartition("/")
    if (
        len(name) > 63
        or not _LABEL_NAME.fullmatch(name)
        or (prefix and (len(prefix) > 253 or not _DNS_SUBDOMAIN.fullmatch(prefix)))
        or ("/" in key and not prefix)
    ):
        raise ConfigError(f"{flag}: {key!r} is not a valid label key")
    if key in constants.OWN_LABELS:
        raise ConfigError(f"{flag}: {key!r} is set by the operator itself; choose another key")
    if len(value) > 63 or (value and not _LABEL_NAME.fullmatch(value)):
        raise ConfigError(
            f"{flag}: the value of {key!r} is not a valid label value "
            "(at most 63 letters, digits, '-', '_' or '.', starting and ending alphanumeric)"
        )
