"""The alert rules: one definition, rendered for the chart and as a plain rule file.

The chart's file (`charts/queuefleet/files/prometheus-rules/queuefleet.yaml`) is rendered
through Helm's `tpl`, so its selectors name this release's scrape jobs and Prometheus'
own templates are escaped; the plain file (`observability/rules/queuefleet.rules.yaml`)
names the jobs `queuefleet-operator` and `temporal` and is what promtool checks and tests.
Each alert has a runbook section in docs/runbooks/alerts.md under its name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml

__all__ = [
    "CHART_TARGET",
    "PLAIN_TARGET",
    "Alert",
    "Group",
    "Target",
    "alert_groups",
    "chart_rules_yaml",
    "plain_rules_yaml",
]

# Series of queuefleet's workers (the Python SDK's core), not of the Temporal server's own
# Go SDK workers, which the server exposes under the same names.
SDK = 'service_name="temporal-core-sdk"'


# Where each alert's `runbook_url` points by default: the runbooks' section of the alert.
RUNBOOK_BASE_URL = "https://github.com/queuefleet/queuefleet/blob/main/docs/runbooks/alerts.md"

# Thresholds, named once (as the chart's `monitoring.prometheusRule.thresholds` keys): the
# runbooks and tests refer to the alerts, not to the numbers.
THRESHOLDS: dict[str, float] = {
    "backlogAgeSeconds": 600,
    "scheduleToStartP95Ms": 2000,
    "activityFailureRatio": 0.1,
}


@dataclass(frozen=True, kw_only=True)
class Target:
    """How the rules name the scrape jobs, thresholds and runbooks where they run."""

    operator: str  # matchers of the operator's own series
    operator_up: str  # matchers of the operator's `up` series
    operator_name: str  # the operator, in words
    temporal_up: str
    temporal_name: str
    thresholds: dict[str, str]  # THRESHOLDS' keys -> their value (or an expression for it)
    runbook_base_url: str


CHART_TARGET = Target(
    operator='job="{{ $operatorJob }}"',
    operator_up='job="{{ $operatorJob }}", namespace="{{ $namespace }}"',
    operator_name="{{ $namespace }}/{{ $operatorJob }}",
    temporal_up='job="{{ $temporalJob }}", namespace="{{ $namespace }}"',
    temporal_name='{{ $namespace }}/{{ include "queuefleet.fullname" . }}',
    thresholds={key: f"{{{{ $thresholds.{key} }}}}" for key in THRESHOLDS},
    runbook_base_url="{{ $runbookBaseUrl }}",
)
PLAIN_TARGET = Target(
    operator='job="queuefleet-operator"',
    operator_up='job="queuefleet-operator"',
    operator_name="queuefleet-operator",
    temporal_up='job="temporal"',
    temporal_name="the `temporal` job",
    thresholds={key: f"{value:g}" for key, value in THRESHOLDS.items()},
    runbook_base_url=RUNBOOK_BASE_URL,
)


@dataclass(frozen=True, kw_only=True)
class Alert:
    name: str
    expr: str
    duration: str  # the rule's `for`
    severity: str
    summary: str
    description: str
    runbook_base_url: str

    @property
    def runbook_url(self) -> str:
        # The runbook's section heading is the alert's name; Markdown anchors lower-case it.
        return f"{self.runbook_base_url}#{self.name.lower()}"

    def rule(self) -> dict[str, Any]:
        return {
            "alert": self.name,
            "expr": self.expr,
            "for": self.duration,
            "labels": {"severity": self.severity},
            "annotations": {
                "summary": self.summary,
                "description": self.description,
                "runbook_url": self.runbook_url,
            },
        }


@dataclass(frozen=True, kw_only=True)
class Group:
    name: str
    alerts: tuple[Alert, ...]
    dev_server_only: bool = False  # only when the chart runs the Temporal dev server

    def group(self) -> dict[str, Any]:
        return {"name": self.name, "rules": [alert.rule() for alert in self.alerts]}


def alert_groups(t: Target) -> tuple[Group, ...]:
    op = t.operator
    limit = t.thresholds
    runbook = t.runbook_base_url
    return (
        Group(
            name="queuefleet.operator",
            alerts=(
                Alert(
                    name="QueuefleetOperatorDown",
                    expr=f"absent(up{{{t.operator_up}}} == 1)",
                    duration="5m",
                    runbook_base_url=runbook,
                    severity="critical",
                    summary="No queuefleet operator replica is up.",
                    description=f"No replica of {t.operator_name} has been scraped as up for "
                    "5 minutes. WorkflowQueues are not reconciled and their status goes stale; "
                    "existing worker fleets keep running and KEDA keeps scaling them.",
                ),
                Alert(
                    name="QueuefleetOperatorErrors",
                    expr="sum by (operation) (rate(queuefleet_operator_errors_total"
                    f"{{{op}}}[10m])) > 0.05",
                    duration="15m",
                    runbook_base_url=runbook,
                    severity="warning",
                    summary="The queuefleet operator keeps failing {{ $labels.operation }}.",
                    description="More than one failed {{ $labels.operation }} every 20 seconds "
                    "for 15 minutes. Check the operator's logs and the Warning events on the "
                    "WorkflowQueues.",
                ),
                Alert(
                    name="QueuefleetReconcileErrors",
                    expr="sum by (result) (rate(queuefleet_operator_reconciles_total"
                    f'{{{op}, result!="ok"}}[10m])) > 0.01',
                    duration="15m",
                    runbook_base_url=runbook,
                    severity="warning",
                    summary="Reconciles of WorkflowQueues end in {{ $labels.result }}.",
                    description="Reconcile passes have kept ending in {{ $labels.result }} for "
                    "15 minutes: the queues' children are not brought to their spec. The Ready "
                    "condition's message and the Warning events on the WorkflowQueues say why.",
                ),
                Alert(
                    name="QueuefleetQueuesNotReady",
                    expr=f"max(queuefleet_operator_queues{{{op}, "
                    'condition="Ready", status="False"}) > 0',
                    duration="15m",
                    runbook_base_url=runbook,
                    severity="warning",
                    summary="{{ $value }} WorkflowQueue(s) not Ready for 15 minutes.",
                    description="`kubectl get workflowqueues -A` shows which ones and why (the "
                    "Status column is the Ready condition's reason).",
                ),
                Alert(
                    name="QueuefleetTemporalUnreachable",
                    expr=f"max(queuefleet_operator_queues{{{op}, "
                    'condition="TemporalReachable", status="False"}) > 0',
                    duration="10m",
                    runbook_base_url=runbook,
                    severity="warning",
                    summary="The operator cannot read the backlog of {{ $value }} "
                    "WorkflowQueue(s).",
                    description="DescribeTaskQueue fails for these queues (address, TLS or "
                    "API-key Secret); KEDA's scaler likely fails the same way and the fleets "
                    "stop following their backlog.",
                ),
            ),
        ),
        Group(
            name="queuefleet.queues",
            alerts=(
                Alert(
                    name="QueuefleetBacklogWaitingTooLong",
                    expr="max by (namespace, workflowqueue, task_queue) "
                    f"(queuefleet_operator_backlog_age_seconds{{{op}}}) "
                    f"> {limit['backlogAgeSeconds']}",
                    duration="10m",
                    runbook_base_url=runbook,
                    severity="warning",
                    summary="Tasks of {{ $labels.namespace }}/{{ $labels.workflowqueue }} wait "
                    f"over {limit['backlogAgeSeconds']} seconds.",
                    description="The oldest task on task queue {{ $labels.task_queue }} has "
                    "waited {{ $value | humanizeDuration }}. The fleet is at its maxReplicas, "
                    "its workers cannot start, or none registers the task's workflow or "
                    "activity type.",
                ),
                Alert(
                    name="QueuefleetBacklogGrowingAtMaxReplicas",
                    # KEDA names its HPA keda-hpa-<ScaledObject>; the operator names the
                    # ScaledObject <WorkflowQueue>-worker.
                    expr="(max by (namespace, workflowqueue, task_queue) "
                    f"(deriv(queuefleet_operator_backlog_tasks{{{op}}}[15m])) > 0) "
                    "and on (namespace, workflowqueue) label_replace("
                    "max by (namespace, horizontalpodautoscaler) "
                    "(kube_horizontalpodautoscaler_status_current_replicas) "
                    ">= on (namespace, horizontalpodautoscaler) "
                    "max by (namespace, horizontalpodautoscaler) "
                    "(kube_horizontalpodautoscaler_spec_max_replicas), "
                    '"workflowqueue", "$1", "horizontalpodautoscaler", "keda-hpa-(.+)-worker")',
                    duration="15m",
                    runbook_base_url=runbook,
                    severity="warning",
                    summary="The backlog of {{ $labels.namespace }}/{{ $labels.workflowqueue }} "
                    "grows while the fleet is at maxReplicas.",
                    description="Task queue {{ $labels.task_queue }} has grown by about "
                    "{{ $value | humanize }} tasks per second for 15 minutes and KEDA cannot add "
                    "workers: raise spec.scaling.maxReplicas or the workers' concurrency, or "
                    "slow the producers.",
                ),
                Alert(
                    name="QueuefleetNoPollersWithBacklog",
                    expr="(max by (namespace, workflowqueue, task_queue) "
                    f"(queuefleet_operator_backlog_tasks{{{op}}}) > 0) "
                    "unless on (namespace, task_queue) "
                    f"(sum by (namespace, task_queue) (temporal_num_pollers{{{SDK}}}) > 0)",
                    duration="10m",
                    runbook_base_url=runbook,
                    severity="critical",
                    summary="Nothing polls {{ $labels.namespace }}/{{ $labels.workflowqueue }} "
                    "while {{ $value }} tasks wait.",
                    description="No worker reports a poller on task queue "
                    "{{ $labels.task_queue }} for 10 minutes although its backlog is not "
                    "empty: the fleet is scaled to zero and KEDA does not activate it, or its "
                    "pods crash or cannot reach Temporal.",
                ),
                Alert(
                    name="QueuefleetScheduleToStartHigh",
                    expr=" or ".join(
                        "label_replace(histogram_quantile(0.95, sum by (namespace, task_queue, "
                        f"le) (rate(temporal_{metric}_schedule_to_start_latency_bucket{{{SDK}}}"
                        "[5m]))), "
                        f'"task_type", "{task_type}", "", "") > {limit["scheduleToStartP95Ms"]}'
                        for task_type, metric in (
                            ("workflow", "workflow_task"),
                            ("activity", "activity"),
                        )
                    ),
                    duration="10m",
                    runbook_base_url=runbook,
                    severity="warning",
                    summary="{{ $labels.task_type }} tasks on {{ $labels.task_queue }} wait "
                    '{{ $value | printf "%.0f" }}ms (p95) for a worker.',
                    description="The 95th percentile schedule-to-start latency of "
                    "{{ $labels.task_type }} tasks on task queue {{ $labels.task_queue }} "
                    "(namespace {{ $labels.namespace }}) has been over "
                    f"{limit['scheduleToStartP95Ms']}ms for 10 minutes: the workers' slots are "
                    "full or too few workers poll.",
                ),
                Alert(
                    name="QueuefleetActivityFailureRatioHigh",
                    expr="sum by (namespace, task_queue, activity_type) "
                    f"(rate(temporal_activity_execution_failed{{{SDK}}}[10m])) "
                    "/ sum by (namespace, task_queue, activity_type) "
                    f"(rate(temporal_activity_execution_latency_count{{{SDK}}}[10m])) "
                    f"> {limit['activityFailureRatio']}",
                    duration="15m",
                    runbook_base_url=runbook,
                    severity="warning",
                    summary="{{ $value | humanizePercentage }} of {{ $labels.activity_type }} "
                    "attempts fail on {{ $labels.task_queue }}.",
                    description="The share of failed attempts of activity "
                    "{{ $labels.activity_type }} on task queue {{ $labels.task_queue }} has "
                    f"been above {limit['activityFailureRatio']} for 15 minutes. Retries hide "
                    "it from the workflows for a while; "
                    "the workers' logs carry the failures.",
                ),
            ),
        ),
        Group(
            name="queuefleet.temporal",
            dev_server_only=True,
            alerts=(
                Alert(
                    name="QueuefleetTemporalServerDown",
                    expr=f"absent(up{{{t.temporal_up}}} == 1)",
                    duration="5m",
                    runbook_base_url=runbook,
                    severity="critical",
                    summary=f"The Temporal dev server of {t.temporal_name} is down.",
                    description="Its metrics endpoint has not been scraped as up for 5 "
                    "minutes: workflows neither start nor progress, and every fleet's backlog "
                    "reads fail.",
                ),
            ),
        ),
    )


def _dump(document: Any) -> str:
    # No line folding: a folded line could split a Go template action in two.
    return yaml.safe_dump(document, sort_keys=False, width=float("inf"), allow_unicode=True)


def plain_rules_yaml() -> str:
    """A Prometheus rule file (`rule_files:`), for promtool and Prometheus without the
    Prometheus Operator."""
    groups = [group.group() for group in alert_groups(PLAIN_TARGET)]
    header = (
        "# Generated by `make dashboards` from observability/alerts.py; do not edit.\n"
        "# Expects the operator scraped as job `queuefleet-operator` and the Temporal dev\n"
        "# server as job `temporal`. Runbooks: docs/runbooks/alerts.md.\n"
    )
    return header + _dump({"groups": groups})


# Prometheus templates ({{ $labels.x }}, {{ $value | f }}) pass through Helm's tpl verbatim.
_PROMETHEUS_TEMPLATE = re.compile(r"\{\{(\s*\$(?:labels|value|externalLabels)\b[^}]*)\}\}")

_CHART_HEADER = """\
{{- /*
Generated by `make dashboards` from observability/alerts.py; do not edit.
Alert groups of the PrometheusRule, rendered through tpl: Helm expressions name this
release's scrape jobs (the Prometheus Operator sets `job` to the Service name); Prometheus
templates in annotations are escaped with {{` ... `}}. Runbooks: docs/runbooks/alerts.md.
*/ -}}
{{- $namespace := .Release.Namespace -}}
{{- $operatorJob := include "queuefleet.componentName" (list . "operator") -}}
{{- $temporalJob := include "queuefleet.componentName" (list . "temporal-metrics") -}}
{{- $thresholds := .Values.monitoring.prometheusRule.thresholds -}}
{{- $runbookBaseUrl := .Values.monitoring.prometheusRule.runbookBaseUrl -}}
{{- $disabled := .Values.monitoring.prometheusRule.disabledAlerts -}}
"""


def chart_rules_yaml() -> str:
    """The chart's rule groups: a YAML list, rendered through Helm's tpl."""
    parts = [_CHART_HEADER]
    for group in alert_groups(CHART_TARGET):
        # Each rule is wrapped so monitoring.prometheusRule.disabledAlerts can drop it.
        rules = "".join(
            f'{{{{- if not (has "{alert.name}" $disabled) }}}}\n'
            + _indent(_dump([alert.rule()]), "  ")
            + "{{- end }}\n"
            for alert in group.alerts
        )
        text = _dump([{"name": group.name}]) + "  rules:\n" + rules
        text = _PROMETHEUS_TEMPLATE.sub(lambda m: "{{`{{" + m.group(1) + "}}`}}", text)
        if group.dev_server_only:
            text = '{{- if eq .Values.temporal.mode "dev" }}\n' + text + "{{- end }}\n"
        parts.append(text)
    return "".join(parts)


def _indent(text: str, prefix: str) -> str:
    return "".join(prefix + line if line.strip() else line for line in text.splitlines(True))
