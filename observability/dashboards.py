"""The Grafana dashboards: one definition, built to JSON with grafana-foundation-sdk.

Panels are plain data (`PanelSpec`) so the same definition feeds the Grafana builder, the
PNG previews and the tests that run every query against a real Prometheus.

Where the series come from, and how their labels line up on Kubernetes:
- workers (Temporal SDK `temporal_*` and `queuefleet_worker_*`), scraped by the operator's
  PodMonitor: `namespace` and `pod` are the worker pod's, `task_queue` is the SDK's;
- the operator (`queuefleet_operator_*`, honorLabels): `namespace` is the WorkflowQueue's;
- the Temporal server: `taskqueue` holds the task queue name with every character that is
  not a letter, digit or `_` replaced by `_` (its Prometheus reporter does that), hence a
  variable of its own;
- kube-state-metrics (`kube_*`) and KEDA (`keda_*`): only on a cluster. A queue's
  Deployment and ScaledObject are `<queue>-worker`, KEDA's HPA `keda-hpa-<queue>-worker`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "DASHBOARDS",
    "DashboardSpec",
    "PanelSpec",
    "Query",
    "RowSpec",
    "build_dashboard",
    "dashboard_json",
    "panel_queries",
]

RATE = "$__rate_interval"
# SDK series of the selected workers. The Temporal server runs Go SDK workers of its own
# and exposes their `temporal_*` series too (service_name="worker"); queuefleet's workers
# run the Python SDK, whose core labels every series service_name="temporal-core-sdk".
SDK = 'service_name="temporal-core-sdk"'
WORKERS = f'{SDK}, namespace=~"$namespace", task_queue=~"$task_queue", pod=~"$pod"'
# The runtime's own queuefleet_worker_* series of the selected workers.
RUNTIME = 'namespace=~"$namespace", task_queue=~"$task_queue", pod=~"$pod"'
# Operator series of the selected queues.
QUEUES = 'namespace=~"$namespace", task_queue=~"$task_queue"'
# Server series of the selected queues, without the server's own system queues.
SERVER_INTERNAL = 'taskqueue!~"temporal_sys_.*|default_worker_tq"'
SERVER_QUEUES = f'taskqueue=~"$taskqueue", {SERVER_INTERNAL}'
KUBE = 'namespace=~"$namespace"'

Kind = Literal["timeseries", "stat"]


@dataclass(frozen=True, kw_only=True)
class Query:
    expr: str
    legend: str


@dataclass(frozen=True, kw_only=True)
class PanelSpec:
    title: str
    description: str
    unit: str
    queries: tuple[Query, ...]
    # Steps above the green base: (value, color), ascending.
    thresholds: tuple[tuple[float, str], ...]
    kind: Kind = "timeseries"
    main: bool = False  # rendered in the PNG previews
    width: int = 12
    minimum: float | None = 0


@dataclass(frozen=True, kw_only=True)
class RowSpec:
    title: str
    panels: tuple[PanelSpec, ...]


@dataclass(frozen=True, kw_only=True)
class DashboardSpec:
    uid: str
    title: str
    description: str
    rows: tuple[RowSpec, ...]
    server_queue_variable: bool = False

    @property
    def panels(self) -> tuple[PanelSpec, ...]:
        return tuple(panel for row in self.rows for panel in row.panels)


def _quantiles(metric: str, by: str, selector: str, legend: str) -> tuple[Query, ...]:
    return tuple(
        Query(
            expr=f"histogram_quantile({q}, sum by (le, {by}) "
            f"(rate({metric}_bucket{{{selector}}}[{RATE}])))",
            legend=f"p{round(q * 100)} {legend}",
        )
        for q in (0.5, 0.95, 0.99)
    )


def _rate(metric: str, by: str, selector: str) -> str:
    return f"sum by ({by}) (rate({metric}{{{selector}}}[{RATE}]))"


QUEUES_DASHBOARD = DashboardSpec(
    uid="queuefleet-queues",
    title="queuefleet / queues",
    description="Backlog and its age per task queue, add vs dispatch rate, and how the "
    "fleet scaled to meet it.",
    server_queue_variable=True,
    rows=(
        RowSpec(
            title="Backlog",
            panels=(
                PanelSpec(
                    title="Backlog per task queue (server)",
                    description="Tasks waiting, summed over the queue's partitions "
                    "(physical_approximate_backlog_count, the server's approximate backlog).",
                    unit="short",
                    thresholds=((100, "orange"), (1000, "red")),
                    main=True,
                    queries=(
                        Query(
                            expr="sum by (taskqueue, task_type) "
                            f"(physical_approximate_backlog_count{{{SERVER_QUEUES}}})",
                            legend="{{taskqueue}} {{task_type}}",
                        ),
                    ),
                ),
                PanelSpec(
                    title="Backlog age per task queue (server)",
                    description="Age of the oldest waiting task, the worst partition.",
                    unit="s",
                    thresholds=((60, "orange"), (600, "red")),
                    main=True,
                    queries=(
                        Query(
                            expr="max by (taskqueue, task_type) "
                            f"(physical_approximate_backlog_age_seconds{{{SERVER_QUEUES}}})",
                            legend="{{taskqueue}} {{task_type}}",
                        ),
                    ),
                ),
                PanelSpec(
                    title="Backlog the fleet scales on (operator)",
                    description="The operator's DescribeTaskQueue reading, summed over the "
                    "WorkflowQueue's queue types: the number KEDA's temporal scaler uses.",
                    unit="short",
                    thresholds=((100, "orange"), (1000, "red")),
                    queries=(
                        Query(
                            expr="max by (namespace, workflowqueue, task_queue) "
                            f"(queuefleet_operator_backlog_tasks{{{QUEUES}}})",
                            legend="{{namespace}}/{{workflowqueue}}",
                        ),
                    ),
                ),
                PanelSpec(
                    title="Backlog age (operator)",
                    description="Age of the oldest waiting task as the operator last read it.",
                    unit="s",
                    thresholds=((60, "orange"), (600, "red")),
                    queries=(
                        Query(
                            expr="max by (namespace, workflowqueue, task_queue) "
                            f"(queuefleet_operator_backlog_age_seconds{{{QUEUES}}})",
                            legend="{{namespace}}/{{workflowqueue}}",
                        ),
                    ),
                ),
                PanelSpec(
                    title="Tasks added vs dispatched",
                    description="Tasks the server added to the queue and tasks it handed to "
                    "pollers, per second. Added above dispatched for long means a growing "
                    "backlog.",
                    unit="ops",
                    thresholds=((1000, "orange"),),
                    main=True,
                    width=24,
                    queries=(
                        Query(
                            expr=_rate("tasks_added", "taskqueue, task_type", SERVER_QUEUES),
                            legend="added {{taskqueue}} {{task_type}}",
                        ),
                        Query(
                            expr=_rate("poll_success", "taskqueue, task_type", SERVER_QUEUES),
                            legend="dispatched {{taskqueue}} {{task_type}}",
                        ),
                    ),
                ),
            ),
        ),
        RowSpec(
            title="Scaling (kube-state-metrics, KEDA)",
            panels=(
                PanelSpec(
                    title="Desired vs actual replicas",
                    description="What KEDA's HPA wants, what is available, and the ceiling "
                    "(maxReplicas).",
                    unit="short",
                    thresholds=((50, "orange"),),
                    main=True,
                    queries=(
                        Query(
                            expr="max by (namespace, horizontalpodautoscaler) "
                            "(kube_horizontalpodautoscaler_status_desired_replicas"
                            f'{{{KUBE}, horizontalpodautoscaler=~"keda-hpa-.+-worker"}})',
                            legend="desired {{horizontalpodautoscaler}}",
                        ),
                        Query(
                            expr="max by (namespace, deployment) "
                            "(kube_deployment_status_replicas_available"
                            f'{{{KUBE}, deployment=~".+-worker"}})',
                            legend="available {{deployment}}",
                        ),
                        Query(
                            expr="max by (namespace, horizontalpodautoscaler) "
                            "(kube_horizontalpodautoscaler_spec_max_replicas"
                            f'{{{KUBE}, horizontalpodautoscaler=~"keda-hpa-.+-worker"}})',
                            legend="max {{horizontalpodautoscaler}}",
                        ),
                    ),
                ),
                PanelSpec(
                    title="Scaling events",
                    description="Changes of each worker Deployment's replica count in the "
                    "last 5 minutes.",
                    unit="short",
                    thresholds=((10, "orange"),),
                    queries=(
                        Query(
                            expr="sum by (namespace, deployment) (changes("
                            f'kube_deployment_spec_replicas{{{KUBE}, deployment=~".+-worker"}}'
                            "[5m]))",
                            legend="{{deployment}}",
                        ),
                    ),
                ),
                PanelSpec(
                    title="KEDA scaler: metric and activity",
                    description="The backlog KEDA's temporal scaler reads, and whether the "
                    "scaler is active (backlog above activationTargetQueueSize).",
                    unit="short",
                    thresholds=((1000, "orange"),),
                    queries=(
                        Query(
                            expr="max by (namespace, scaledObject) (keda_scaler_metrics_value"
                            f'{{{KUBE}, scaledObject=~".+-worker"}})',
                            legend="metric {{scaledObject}}",
                        ),
                        Query(
                            expr="max by (namespace, scaledObject) (keda_scaler_active"
                            f'{{{KUBE}, scaledObject=~".+-worker"}})',
                            legend="active {{scaledObject}}",
                        ),
                    ),
                ),
                PanelSpec(
                    title="KEDA scaler errors",
                    description="Failed backlog reads by KEDA: while they last the fleet "
                    "does not follow its backlog (or falls back to its fallback replicas).",
                    unit="ops",
                    thresholds=((0.01, "red"),),
                    queries=(
                        Query(
                            expr="sum by (namespace, scaledObject) (rate("
                            f'keda_scaled_object_errors_total{{{KUBE}, scaledObject=~".+-worker"}}'
                            "[5m]))",
                            legend="{{scaledObject}}",
                        ),
                    ),
                ),
            ),
        ),
    ),
)

WORKERS_DASHBOARD = DashboardSpec(
    uid="queuefleet-workers",
    title="queuefleet / workers",
    description="What the worker processes see: slots, schedule-to-start latency, "
    "failures, polls and the sticky cache.",
    rows=(
        RowSpec(
            title="Capacity and latency",
            panels=(
                PanelSpec(
                    title="Task slots used",
                    description="Slots busy with workflow, activity and local activity tasks.",
                    unit="short",
                    thresholds=((100, "orange"),),
                    main=True,
                    queries=(
                        Query(
                            expr="sum by (task_queue, worker_type) "
                            f"(temporal_worker_task_slots_used{{{WORKERS}}})",
                            legend="{{task_queue}} {{worker_type}}",
                        ),
                    ),
                ),
                PanelSpec(
                    title="Task slots available",
                    description="Free slots; zero for long means the fleet is saturated.",
                    unit="short",
                    thresholds=((1, "green"),),
                    queries=(
                        Query(
                            expr="sum by (task_queue, worker_type) "
                            f"(temporal_worker_task_slots_available{{{WORKERS}}})",
                            legend="{{task_queue}} {{worker_type}}",
                        ),
                    ),
                ),
                PanelSpec(
                    title="Workflow task schedule-to-start",
                    description="Time workflow tasks wait for a worker: p50, p95, p99.",
                    unit="ms",
                    thresholds=((500, "orange"), (2000, "red")),
                    main=True,
                    queries=_quantiles(
                        "temporal_workflow_task_schedule_to_start_latency",
                        "task_queue",
                        WORKERS,
                        "{{task_queue}}",
                    ),
                ),
                PanelSpec(
                    title="Activity schedule-to-start",
                    description="Time activity tasks wait for a worker: p50, p95, p99.",
                    unit="ms",
                    thresholds=((500, "orange"), (2000, "red")),
                    main=True,
                    queries=_quantiles(
                        "temporal_activity_schedule_to_start_latency",
                        "task_queue",
                        WORKERS,
                        "{{task_queue}}",
                    ),
                ),
            ),
        ),
        RowSpec(
            title="Failures, polls, cache",
            panels=(
                PanelSpec(
                    title="Activity task failures",
                    description="Failed activity attempts per second, by type and reason "
                    "(retried attempts included).",
                    unit="ops",
                    thresholds=((0.1, "orange"), (1, "red")),
                    main=True,
                    queries=(
                        Query(
                            expr=_rate(
                                "temporal_activity_execution_failed",
                                "task_queue, activity_type, failure_reason",
                                WORKERS,
                            ),
                            legend="{{activity_type}} {{failure_reason}}",
                        ),
                    ),
                ),
                PanelSpec(
                    title="Poll success rate",
                    description="Share of long polls that returned a task. Low on an idle "
                    "queue is normal; it says the fleet has spare pollers.",
                    unit="percentunit",
                    thresholds=((0.9, "orange"),),
                    queries=(
                        Query(
                            expr=_rate(
                                "temporal_workflow_task_queue_poll_succeed", "task_queue", WORKERS
                            )
                            + " / "
                            + _rate(
                                "temporal_long_request",
                                "task_queue",
                                f'{WORKERS}, operation="PollWorkflowTaskQueue"',
                            ),
                            legend="workflow {{task_queue}}",
                        ),
                        Query(
                            expr=_rate(
                                "temporal_activity_task_received",
                                "task_queue",
                                f'{WORKERS}, eager="false"',
                            )
                            + " / "
                            + _rate(
                                "temporal_long_request",
                                "task_queue",
                                f'{WORKERS}, operation="PollActivityTaskQueue"',
                            ),
                            legend="activity {{task_queue}}",
                        ),
                    ),
                ),
                PanelSpec(
                    title="Pollers",
                    description="Active pollers per poller type.",
                    unit="short",
                    thresholds=((1, "green"),),
                    queries=(
                        Query(
                            expr="sum by (task_queue, poller_type) "
                            f"(temporal_num_pollers{{{WORKERS}}})",
                            legend="{{task_queue}} {{poller_type}}",
                        ),
                    ),
                ),
                PanelSpec(
                    title="Sticky cache",
                    description="Workflows held in the sticky cache, and cache hits per "
                    "second (a hit skips replaying the history).",
                    unit="short",
                    thresholds=((1000, "orange"),),
                    queries=(
                        Query(
                            expr=f"sum by (task_queue) (temporal_sticky_cache_size{{{WORKERS}}})",
                            legend="size {{task_queue}}",
                        ),
                        Query(
                            expr=_rate("temporal_sticky_cache_hit", "task_queue", WORKERS),
                            legend="hits/s {{task_queue}}",
                        ),
                    ),
                ),
                PanelSpec(
                    title="Workers draining",
                    description="Worker processes finishing in-flight tasks after SIGTERM.",
                    unit="short",
                    thresholds=((1, "orange"),),
                    kind="stat",
                    queries=(
                        Query(
                            expr=f"sum(queuefleet_worker_draining{{{RUNTIME}}})",
                            legend="draining",
                        ),
                    ),
                ),
            ),
        ),
    ),
)

WORKFLOWS_DASHBOARD = DashboardSpec(
    uid="queuefleet-workflows",
    title="queuefleet / workflows",
    description="Workflows started, completed, failed and timed out per type, and how long "
    "they take end to end.",
    server_queue_variable=True,
    rows=(
        RowSpec(
            title="Outcomes",
            panels=(
                PanelSpec(
                    title="Workflows started",
                    description="Start requests per second at the frontend, per Temporal "
                    "namespace (the server does not label starts with a workflow type).",
                    unit="ops",
                    thresholds=((1000, "orange"),),
                    main=True,
                    queries=(
                        Query(
                            expr=_rate(
                                "service_requests",
                                "namespace",
                                'service_name="frontend", namespace!="temporal_system", '
                                'operation=~"StartWorkflowExecution|SignalWithStartWorkflowExecution"',
                            ),
                            legend="{{namespace}}",
                        ),
                    ),
                ),
                PanelSpec(
                    title="Workflows closed per type",
                    description="Completed, failed and timed-out workflows per second, as "
                    "the server's history service records them.",
                    unit="ops",
                    thresholds=((1000, "orange"),),
                    main=True,
                    queries=(
                        Query(
                            expr=_rate("workflow_success", "workflowType", SERVER_QUEUES),
                            legend="completed {{workflowType}}",
                        ),
                        Query(
                            expr=_rate("workflow_failed", "workflowType", SERVER_QUEUES),
                            legend="failed {{workflowType}}",
                        ),
                        Query(
                            expr=_rate("workflow_timeout", "workflowType", SERVER_QUEUES),
                            legend="timed out {{workflowType}}",
                        ),
                    ),
                ),
                PanelSpec(
                    title="Workflow failure ratio (workers)",
                    description="Failed over failed plus completed workflows, as the "
                    "workers report them.",
                    unit="percentunit",
                    thresholds=((0.01, "orange"), (0.1, "red")),
                    queries=(
                        Query(
                            expr=_rate("temporal_workflow_failed", "workflow_type", WORKERS)
                            + " / ("
                            + _rate("temporal_workflow_failed", "workflow_type", WORKERS)
                            + " + "
                            + _rate("temporal_workflow_completed", "workflow_type", WORKERS)
                            + ")",
                            legend="{{workflow_type}}",
                        ),
                    ),
                ),
                PanelSpec(
                    title="Activity failure ratio",
                    description="Failed attempts over all attempts, per activity type.",
                    unit="percentunit",
                    thresholds=((0.05, "orange"), (0.2, "red")),
                    queries=(
                        Query(
                            expr=_rate(
                                "temporal_activity_execution_failed", "activity_type", WORKERS
                            )
                            + " / "
                            + _rate(
                                "temporal_activity_execution_latency_count",
                                "activity_type",
                                WORKERS,
                            ),
                            legend="{{activity_type}}",
                        ),
                    ),
                ),
            ),
        ),
        RowSpec(
            title="Latency",
            panels=(
                PanelSpec(
                    title="Workflow end-to-end latency",
                    description="From workflow start to completion, per type: p50, p95, p99.",
                    unit="ms",
                    thresholds=((10000, "orange"), (60000, "red")),
                    main=True,
                    queries=_quantiles(
                        "temporal_workflow_endtoend_latency",
                        "workflow_type",
                        WORKERS,
                        "{{workflow_type}}",
                    ),
                ),
                PanelSpec(
                    title="Activity execution latency",
                    description="Time an activity attempt runs, per type: p50, p95, p99.",
                    unit="ms",
                    thresholds=((10000, "orange"), (60000, "red")),
                    queries=_quantiles(
                        "temporal_activity_execution_latency",
                        "activity_type",
                        WORKERS,
                        "{{activity_type}}",
                    ),
                ),
            ),
        ),
    ),
)

OPERATOR_DASHBOARD = DashboardSpec(
    uid="queuefleet-operator",
    title="queuefleet / operator",
    description="The WorkflowQueue operator: reconciles, errors, duration and the queues' "
    "conditions.",
    rows=(
        RowSpec(
            title="Reconciles",
            panels=(
                PanelSpec(
                    title="Reconcile rate",
                    description="Reconcile passes per second by trigger and result.",
                    unit="ops",
                    thresholds=((10, "orange"),),
                    main=True,
                    queries=(
                        Query(
                            expr=_rate(
                                "queuefleet_operator_reconciles_total", "trigger, result", ""
                            ),
                            legend="{{trigger}} {{result}}",
                        ),
                    ),
                ),
                PanelSpec(
                    title="Errors",
                    description="Failed reconciles and failed API calls or backlog reads.",
                    unit="ops",
                    thresholds=((0.01, "orange"), (0.05, "red")),
                    main=True,
                    queries=(
                        Query(
                            expr=_rate(
                                "queuefleet_operator_reconciles_total", "result", 'result!="ok"'
                            ),
                            legend="reconcile {{result}}",
                        ),
                        Query(
                            expr=_rate("queuefleet_operator_errors_total", "operation", ""),
                            legend="{{operation}}",
                        ),
                    ),
                ),
                PanelSpec(
                    title="Reconcile duration",
                    description="Time for one reconcile pass (observe, plan, apply, status).",
                    unit="s",
                    thresholds=((1, "orange"), (5, "red")),
                    main=True,
                    queries=_quantiles(
                        "queuefleet_operator_reconcile_duration_seconds", "job", "", ""
                    ),
                ),
                PanelSpec(
                    title="Queues by condition",
                    description="WorkflowQueues per condition type and status.",
                    unit="short",
                    thresholds=((1, "green"),),
                    main=True,
                    queries=(
                        Query(
                            expr="sum by (condition, status) (queuefleet_operator_queues)",
                            legend="{{condition}}={{status}}",
                        ),
                    ),
                ),
                PanelSpec(
                    title="Children applied",
                    description="Server-side applies per second, by child kind.",
                    unit="ops",
                    thresholds=((10, "orange"),),
                    width=24,
                    queries=(
                        Query(
                            expr=_rate("queuefleet_operator_child_applies_total", "kind", ""),
                            legend="{{kind}}",
                        ),
                    ),
                ),
            ),
        ),
    ),
)

SERVER_DASHBOARD = DashboardSpec(
    uid="queuefleet-temporal-server",
    title="queuefleet / Temporal server (dev)",
    description="The chart's Temporal dev server: request rates, errors and latencies of its "
    "services and of its persistence.",
    rows=(
        RowSpec(
            title="Services",
            panels=(
                PanelSpec(
                    title="Requests by service",
                    description="Requests per second, by service (frontend, history, "
                    "matching, worker).",
                    unit="reqps",
                    thresholds=((5000, "orange"),),
                    main=True,
                    queries=(
                        Query(
                            expr=_rate("service_requests", "service_name", ""),
                            legend="{{service_name}}",
                        ),
                    ),
                ),
                PanelSpec(
                    title="Errors by type",
                    description="Errors per second, by service and error type.",
                    unit="reqps",
                    thresholds=((0.1, "orange"), (1, "red")),
                    main=True,
                    queries=(
                        Query(
                            expr=_rate("service_error_with_type", "service_name, error_type", ""),
                            legend="{{service_name}} {{error_type}}",
                        ),
                    ),
                ),
                PanelSpec(
                    title="Request latency (long polls excluded)",
                    description="p50, p95, p99 per service; long polls wait by design.",
                    unit="s",
                    thresholds=((0.5, "orange"), (2, "red")),
                    main=True,
                    width=24,
                    queries=_quantiles(
                        "service_latency",
                        "service_name",
                        'operation!~"Poll.*"',
                        "{{service_name}}",
                    ),
                ),
            ),
        ),
        RowSpec(
            title="Persistence",
            panels=(
                PanelSpec(
                    title="Persistence requests",
                    description="Database requests per second, by service.",
                    unit="reqps",
                    thresholds=((5000, "orange"),),
                    queries=(
                        Query(
                            expr=_rate("persistence_requests", "service_name", ""),
                            legend="{{service_name}}",
                        ),
                    ),
                ),
                PanelSpec(
                    title="Persistence latency p95",
                    description="95th percentile database latency, by service.",
                    unit="s",
                    thresholds=((0.1, "orange"), (1, "red")),
                    queries=(
                        Query(
                            expr="histogram_quantile(0.95, sum by (le, service_name) "
                            f"(rate(persistence_latency_bucket[{RATE}])))",
                            legend="{{service_name}}",
                        ),
                    ),
                ),
                PanelSpec(
                    title="Persistence errors",
                    description="Database errors per second, by type (conditional-update "
                    "conflicts are expected in small numbers).",
                    unit="reqps",
                    thresholds=((0.1, "orange"), (1, "red")),
                    width=24,
                    queries=(
                        Query(
                            expr=_rate(
                                "persistence_error_with_type", "service_name, error_type", ""
                            ),
                            legend="{{service_name}} {{error_type}}",
                        ),
                    ),
                ),
            ),
        ),
    ),
)

DASHBOARDS: tuple[DashboardSpec, ...] = (
    QUEUES_DASHBOARD,
    WORKERS_DASHBOARD,
    WORKFLOWS_DASHBOARD,
    OPERATOR_DASHBOARD,
    SERVER_DASHBOARD,
)

_PANEL_HEIGHT = 8


def _variables(spec: DashboardSpec) -> list[Any]:
    from grafana_foundation_sdk.builders import dashboard as gd
    from grafana_foundation_sdk.models import dashboard as gm

    datasource = gm.DataSourceRef(type_val="prometheus", uid="${datasource}")

    def query(name: str, label: str, promql: str) -> Any:
        return (
            gd.QueryVariable(name)
            .label(label)
            .datasource(datasource)
            .query(promql)
            .refresh(gm.VariableRefresh.ON_TIME_RANGE_CHANGED)
            .include_all(True)
            .multi(True)
            # ".*" also matches series without the label (e.g. no `pod` outside Kubernetes).
            .all_value(".*")
            .current(gm.VariableOption(selected=True, text="All", value="$__all"))
            .sort(gm.VariableSort.ALPHABETICAL_ASC)
        )

    variables: list[Any] = [
        gd.DatasourceVariable("datasource").label("Data source").type("prometheus"),
        query("namespace", "Namespace", f"label_values(temporal_num_pollers{{{SDK}}}, namespace)"),
        query(
            "task_queue",
            "Task queue",
            f'label_values(temporal_num_pollers{{{SDK}, namespace=~"$namespace"}}, task_queue)',
        ),
        query(
            "pod",
            "Pod",
            f"label_values(temporal_num_pollers{{{SDK}, "
            'namespace=~"$namespace", task_queue=~"$task_queue"}, pod)',
        ),
    ]
    if spec.server_queue_variable:
        variables.append(
            query(
                "taskqueue",
                "Task queue (server label)",
                f"label_values(physical_approximate_backlog_count{{{SERVER_INTERNAL}}}, taskqueue)",
            )
        )
    return variables


def _panel(panel: PanelSpec, x: int, y: int) -> Any:
    from grafana_foundation_sdk.builders import dashboard as gd
    from grafana_foundation_sdk.builders import prometheus, stat, timeseries
    from grafana_foundation_sdk.models import dashboard as gm

    builder: Any = timeseries.Panel() if panel.kind == "timeseries" else stat.Panel()
    steps = [gm.Threshold(value=None, color="green")] + [
        gm.Threshold(value=value, color=color) for value, color in panel.thresholds
    ]
    builder = (
        builder.title(panel.title)
        .description(panel.description)
        .datasource(gm.DataSourceRef(type_val="prometheus", uid="${datasource}"))
        .unit(panel.unit)
        .thresholds(gd.ThresholdsConfig().mode(gm.ThresholdsMode.ABSOLUTE).steps(steps))
        .grid_pos(gm.GridPos(h=_PANEL_HEIGHT, w=panel.width, x=x, y=y))
    )
    if panel.minimum is not None:
        builder = builder.min(panel.minimum)
    if panel.kind == "timeseries":
        builder = builder.fill_opacity(10).line_width(1)
    for index, query in enumerate(panel.queries):
        builder = builder.with_target(
            prometheus.Dataquery()
            .expr(query.expr)
            .legend_format(query.legend)
            .ref_id(chr(ord("A") + index))
        )
    return builder


def build_dashboard(spec: DashboardSpec) -> dict[str, Any]:
    """The dashboard as Grafana's JSON model (a plain dict)."""
    from grafana_foundation_sdk.builders import dashboard as gd
    from grafana_foundation_sdk.cog.encoder import JSONEncoder

    builder = (
        gd.Dashboard(spec.title)
        .uid(spec.uid)
        .description(spec.description)
        .tags(["queuefleet", "temporal"])
        .timezone("browser")
        .refresh("30s")
        .time("now-3h", "now")
        .editable()
    )
    for variable in _variables(spec):
        builder = builder.with_variable(variable)
    y = 0
    for row in spec.rows:
        builder = builder.with_row(gd.Row(row.title).grid_pos(_grid(0, y, 24, 1)))
        y += 1
        x = 0
        for panel in row.panels:
            if x + panel.width > 24:
                x, y = 0, y + _PANEL_HEIGHT
            builder = builder.with_panel(_panel(panel, x, y))
            x += panel.width
        y += _PANEL_HEIGHT
    encoded = json.dumps(builder.build(), cls=JSONEncoder, sort_keys=True)
    result: dict[str, Any] = json.loads(encoded)
    for number, panel in enumerate(result["panels"], start=1):
        panel["id"] = number  # Grafana keys panel links and repeats by id
    return result


def _grid(x: int, y: int, w: int, h: int) -> Any:
    from grafana_foundation_sdk.models import dashboard as gm

    return gm.GridPos(h=h, w=w, x=x, y=y)


def dashboard_json(spec: DashboardSpec) -> str:
    """The committed file's text: stable key order, two-space indent, final newline."""
    return json.dumps(build_dashboard(spec), indent=2, sort_keys=True) + "\n"


def panel_queries(dashboard: dict[str, Any]) -> Sequence[tuple[str, str]]:
    """(panel title, expr) for every query of a dashboard's JSON model."""
    return [
        (str(panel["title"]), str(target["expr"]))
        for panel in dashboard.get("panels", [])
        for target in panel.get("targets", [])
    ]
