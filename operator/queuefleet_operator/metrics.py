"""The operator's Prometheus metrics, in a registry of their own."""

from __future__ import annotations

import contextlib
from collections import Counter as Tally
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

__all__ = ["OperatorMetrics"]


class OperatorMetrics:
    def __init__(
        self,
        *,
        registry: CollectorRegistry | None = None,
        statuses: Callable[[], Iterable[Mapping[str, Any]]] = tuple,
    ) -> None:
        self.registry = registry or CollectorRegistry()
        self.reconciles = Counter(
            "queuefleet_operator_reconciles",
            "Reconcile passes, by what triggered them and how they ended.",
            ["trigger", "result"],
            registry=self.registry,
        )
        self.reconcile_seconds = Histogram(
            "queuefleet_operator_reconcile_duration_seconds",
            "Time for one reconcile pass (observe, plan, apply, status).",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
            registry=self.registry,
        )
        self.queue_wait_seconds = Histogram(
            "queuefleet_operator_work_queue_wait_seconds",
            "Time a WorkflowQueue waited in the work queue before its reconcile pass began.",
            buckets=(0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60),
            registry=self.registry,
        )
        self.errors = Counter(
            "queuefleet_operator_errors",
            "Failed API calls and backlog reads, by operation.",
            ["operation"],
            registry=self.registry,
        )
        self.applies = Counter(
            "queuefleet_operator_child_applies",
            "Children applied with server-side apply, by kind.",
            ["kind"],
            registry=self.registry,
        )
        self.api_seconds = Histogram(
            "queuefleet_operator_api_request_duration_seconds",
            "Kubernetes API calls made by reconcile passes, by operation (apply, delete, status).",
            ["operation"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10),
            registry=self.registry,
        )
        self.status_writes = Counter(
            "queuefleet_operator_status_writes",
            "WorkflowQueue status writes (only statuses that changed are written).",
            registry=self.registry,
        )
        self.backlog_reads = Counter(
            "queuefleet_operator_backlog_reads",
            "Backlog reads from Temporal (DescribeTaskQueue per queue type), by result.",
            ["result"],
            registry=self.registry,
        )
        self.drift_repairs = Counter(
            "queuefleet_operator_drift_repairs",
            "Children re-applied because a field the operator sets was changed by someone else.",
            ["kind"],
            registry=self.registry,
        )
        self.active = Gauge(
            "queuefleet_operator_active",
            "1 while this replica is the active one (peering), 0 while it is paused.",
            registry=self.registry,
        )
        self.backlog = Gauge(
            "queuefleet_operator_backlog_tasks",
            "Approximate backlog of a WorkflowQueue's task queue, summed over its queue types.",
            ["namespace", "workflowqueue", "task_queue"],
            registry=self.registry,
        )
        self.backlog_age = Gauge(
            "queuefleet_operator_backlog_age_seconds",
            "Age of the oldest task waiting in a WorkflowQueue's task queue.",
            ["namespace", "workflowqueue", "task_queue"],
            registry=self.registry,
        )
        self.registry.register(_QueuesByCondition(statuses))

    def export_backlog(
        self,
        namespace: str,
        name: str,
        task_queue: str,
        *,
        count: int,
        age_seconds: float,
        previous_task_queue: str | None,
    ) -> None:
        """Set a queue's backlog gauges; a task queue it no longer serves loses its series."""
        if previous_task_queue is not None and previous_task_queue != task_queue:
            self.forget_queue(namespace, name, previous_task_queue)
        self.backlog.labels(namespace, name, task_queue).set(count)
        self.backlog_age.labels(namespace, name, task_queue).set(age_seconds)

    def forget_queue(self, namespace: str, name: str, task_queue: str) -> None:
        for gauge in (self.backlog, self.backlog_age):
            with contextlib.suppress(KeyError):  # never read for this queue
                gauge.remove(namespace, name, task_queue)


class _QueuesByCondition(Collector):
    """WorkflowQueues by condition and status, counted at scrape time from the last statuses."""

    def __init__(self, statuses: Callable[[], Iterable[Mapping[str, Any]]]) -> None:
        self._statuses = statuses

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "queuefleet_operator_queues",
            "WorkflowQueues by condition type and status.",
            labels=["condition", "status"],
        )
        tally: Tally[tuple[str, str]] = Tally()
        for status in self._statuses():
            for condition in status.get("conditions") or []:
                tally[(str(condition.get("type")), str(condition.get("status")))] += 1
        for (kind, value), count in sorted(tally.items()):
            family.add_metric([kind, value], count)
        yield family
