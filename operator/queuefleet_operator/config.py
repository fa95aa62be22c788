"""The operator's own settings, loaded once from the command line."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ConfigError", "OperatorConfig"]


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
