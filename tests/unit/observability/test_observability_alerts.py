"""The plain rule file, checked by promtool and unit-tested with a firing and a quiet case
per alert. (The chart's rendering of the same rules is tested in tests/unit/charts.)"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from observability.alerts import PLAIN_TARGET, RUNBOOK_BASE_URL, THRESHOLDS, alert_groups
from observability.generate import PLAIN_RULES
from tests.conftest import component_missing

CHART_DIR = Path(__file__).resolve().parents[3] / "charts" / "queuefleet"

OP = 'job="queuefleet-operator"'
QUEUE = 'namespace="shop", workflowqueue="orders", task_queue="orders"'
HPA = 'namespace="shop", horizontalpodautoscaler="keda-hpa-orders-worker"'
SDK = 'service_name="temporal-core-sdk", namespace="shop", task_queue="orders"'
ACTIVITY = f'{SDK}, activity_type="charge", workflow_type="Order"'
ERRORS = f'queuefleet_operator_errors_total{{{OP}, operation="apply-Deployment"}}'
FAILED = f'temporal_activity_execution_failed{{{ACTIVITY}, failure_reason="ActivityError"}}'


def _promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        component_missing("promtool is not on PATH; run `make system-packages`")
        raise AssertionError  # unreachable
    return path


def _buckets(metric: str, counts_per_minute: dict[str, int]) -> list[dict[str, str]]:
    """Cumulative histogram buckets growing by the given counts every minute."""
    series = []
    total = 0
    for le in ("100", "1000", "5000", "+Inf"):
        total += counts_per_minute.get(le, 0)
        series.append({"series": f'{metric}_bucket{{{SDK}, le="{le}"}}', "values": f"0+{total}x40"})
    return series


def _case(
    alert: str, at: str, series: list[dict[str, str]], fired: list[dict[str, Any]]
) -> dict[str, Any]:
    # Every firing alert links its runbook section.
    runbook = {"runbook_url": f"{RUNBOOK_BASE_URL}#{alert.lower()}"}
    fired = [{**f, "exp_annotations": {**f["exp_annotations"], **runbook}} for f in fired]
    return {
        "interval": "1m",
        "input_series": series,
        "alert_rule_test": [{"eval_time": at, "alertname": alert, "exp_alerts": fired}],
    }


def _fired(labels: dict[str, str], summary: str, description: str) -> list[dict[str, Any]]:
    return [
        {
            "exp_labels": labels,
            "exp_annotations": {"summary": summary, "description": description},
        }
    ]


def _s(series: str, values: str) -> dict[str, str]:
    return {"series": series, "values": values}


# alert -> (firing case, quiet case); each case is (eval time, input series, fired alerts)
CASES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "QueuefleetOperatorDown": (
        _case(
            "QueuefleetOperatorDown",
            "8m",
            [_s(f"up{{{OP}}}", "1 0x10")],
            _fired(
                {"severity": "critical"},
                "No queuefleet operator replica is up.",
                "No replica of queuefleet-operator has been scraped as up for 5 minutes. "
                "WorkflowQueues are not reconciled and their status goes stale; existing "
                "worker fleets keep running and KEDA keeps scaling them.",
            ),
        ),
        _case("QueuefleetOperatorDown", "8m", [_s(f"up{{{OP}}}", "1x10")], []),
    ),
    "QueuefleetOperatorErrors": (
        _case(
            "QueuefleetOperatorErrors",
            "30m",
            [_s(ERRORS, "0+6x40")],
            _fired(
                {"severity": "warning", "operation": "apply-Deployment"},
                "The queuefleet operator keeps failing apply-Deployment.",
                "More than one failed apply-Deployment every 20 seconds for 15 minutes. Check the "
                "operator's logs and the Warning events on the WorkflowQueues.",
            ),
        ),
        _case(
            "QueuefleetOperatorErrors",
            "30m",
            [_s(ERRORS, "0+1x40")],
            [],
        ),
    ),
    "QueuefleetReconcileErrors": (
        _case(
            "QueuefleetReconcileErrors",
            "30m",
            [
                _s(f'queuefleet_operator_reconciles_total{{{OP}, trigger="timer", result="error"}}',
                   "0+6x40"),
                _s(f'queuefleet_operator_reconciles_total{{{OP}, trigger="timer", result="ok"}}',
                   "0+60x40"),
            ],
            _fired(
                {"severity": "warning", "result": "error"},
                "Reconciles of WorkflowQueues end in error.",
                "Reconcile passes have kept ending in error for 15 minutes: the queues' "
                "children are not brought to their spec. The Ready condition's message and the "
                "Warning events on the WorkflowQueues say why.",
            ),
        ),
        _case(
            "QueuefleetReconcileErrors",
            "30m",
            [_s(f'queuefleet_operator_reconciles_total{{{OP}, trigger="timer", result="ok"}}',
                "0+60x40")],
            [],
        ),
    ),
    "QueuefleetQueuesNotReady": (
        _case(
            "QueuefleetQueuesNotReady",
            "20m",
            [_s(f'queuefleet_operator_queues{{{OP}, condition="Ready", status="False"}}', "2x30")],
            _fired(
                {"severity": "warning"},
                "2 WorkflowQueue(s) not Ready for 15 minutes.",
                "`kubectl get workflowqueues -A` shows which ones and why (the Status column is "
                "the Ready condition's reason).",
            ),
        ),
        _case(
            "QueuefleetQueuesNotReady",
            "20m",
            [_s(f'queuefleet_operator_queues{{{OP}, condition="Ready", status="False"}}', "0x30"),
             _s(f'queuefleet_operator_queues{{{OP}, condition="Ready", status="True"}}', "2x30")],
            [],
        ),
    ),
    "QueuefleetTemporalUnreachable": (
        _case(
            "QueuefleetTemporalUnreachable",
            "15m",
            [_s(f'queuefleet_operator_queues{{{OP}, condition="TemporalReachable", '
                'status="False"}', "1x30")],
            _fired(
                {"severity": "warning"},
                "The operator cannot read the backlog of 1 WorkflowQueue(s).",
                "DescribeTaskQueue fails for these queues (address, TLS or API-key Secret); "
                "KEDA's scaler likely fails the same way and the fleets stop following their "
                "backlog.",
            ),
        ),
        _case(
            "QueuefleetTemporalUnreachable",
            "15m",
            [_s(f'queuefleet_operator_queues{{{OP}, condition="TemporalReachable", '
                'status="False"}', "0x30")],
            [],
        ),
    ),
    "QueuefleetBacklogWaitingTooLong": (
        _case(
            "QueuefleetBacklogWaitingTooLong",
            "25m",
            [_s(f"queuefleet_operator_backlog_age_seconds{{{OP}, {QUEUE}}}", "0+60x40")],
            _fired(
                {"severity": "warning", "namespace": "shop", "workflowqueue": "orders",
                 "task_queue": "orders"},
                "Tasks of shop/orders wait over 600 seconds.",
                "The oldest task on task queue orders has waited 25m 0s. The fleet is at its "
                "maxReplicas, its workers cannot start, or none registers the task's workflow "
                "or activity type.",
            ),
        ),
        _case(
            "QueuefleetBacklogWaitingTooLong",
            "25m",
            [_s(f"queuefleet_operator_backlog_age_seconds{{{OP}, {QUEUE}}}", "30x40")],
            [],
        ),
    ),
    "QueuefleetBacklogGrowingAtMaxReplicas": (
        _case(
            "QueuefleetBacklogGrowingAtMaxReplicas",
            "35m",
            [
                _s(f"queuefleet_operator_backlog_tasks{{{OP}, {QUEUE}}}", "0+60x40"),
                _s(f"kube_horizontalpodautoscaler_status_current_replicas{{{HPA}}}", "10x40"),
                _s(f"kube_horizontalpodautoscaler_spec_max_replicas{{{HPA}}}", "10x40"),
            ],
            _fired(
                {"severity": "warning", "namespace": "shop", "workflowqueue": "orders",
                 "task_queue": "orders"},
                "The backlog of shop/orders grows while the fleet is at maxReplicas.",
                "Task queue orders has grown by about 1 tasks per second for 15 minutes and "
                "KEDA cannot add workers: raise spec.scaling.maxReplicas or the workers' "
                "concurrency, or slow the producers.",
            ),
        ),
        _case(
            "QueuefleetBacklogGrowingAtMaxReplicas",
            "35m",
            [
                _s(f"queuefleet_operator_backlog_tasks{{{OP}, {QUEUE}}}", "0+60x40"),
                _s(f"kube_horizontalpodautoscaler_status_current_replicas{{{HPA}}}", "5x40"),
                _s(f"kube_horizontalpodautoscaler_spec_max_replicas{{{HPA}}}", "10x40"),
            ],
            [],
        ),
    ),
    "QueuefleetNoPollersWithBacklog": (
        _case(
            "QueuefleetNoPollersWithBacklog",
            "15m",
            [_s(f"queuefleet_operator_backlog_tasks{{{OP}, {QUEUE}}}", "50x30")],
            _fired(
                {"severity": "critical", "namespace": "shop", "workflowqueue": "orders",
                 "task_queue": "orders"},
                "Nothing polls shop/orders while 50 tasks wait.",
                "No worker reports a poller on task queue orders for 10 minutes although its "
                "backlog is not empty: the fleet is scaled to zero and KEDA does not activate "
                "it, or its pods crash or cannot reach Temporal.",
            ),
        ),
        _case(
            "QueuefleetNoPollersWithBacklog",
            "15m",
            [
                _s(f"queuefleet_operator_backlog_tasks{{{OP}, {QUEUE}}}", "50x30"),
                _s(f'temporal_num_pollers{{{SDK}, poller_type="workflow_task", pod="w-1"}}',
                   "5x30"),
            ],
            [],
        ),
    ),
    "QueuefleetScheduleToStartHigh": (
        _case(
            "QueuefleetScheduleToStartHigh",
            "20m",
            _buckets("temporal_activity_schedule_to_start_latency", {"5000": 10})
            + _buckets("temporal_workflow_task_schedule_to_start_latency", {"100": 10}),
            _fired(
                {"severity": "warning", "namespace": "shop", "task_queue": "orders",
                 "task_type": "activity"},
                "activity tasks on orders wait 4800ms (p95) for a worker.",
                "The 95th percentile schedule-to-start latency of activity tasks on task queue "
                "orders (namespace shop) has been over 2000ms for 10 minutes: the workers' "
                "slots are full or too few workers poll.",
            ),
        ),
        _case(
            "QueuefleetScheduleToStartHigh",
            "20m",
            _buckets("temporal_activity_schedule_to_start_latency", {"100": 10})
            + _buckets("temporal_workflow_task_schedule_to_start_latency", {"100": 10}),
            [],
        ),
    ),
    "QueuefleetActivityFailureRatioHigh": (
        _case(
            "QueuefleetActivityFailureRatioHigh",
            "30m",
            [
                _s(FAILED,
                   "0+3x40"),
                _s(f"temporal_activity_execution_latency_count{{{ACTIVITY}}}", "0+10x40"),
            ],
            _fired(
                {"severity": "warning", "namespace": "shop", "task_queue": "orders",
                 "activity_type": "charge"},
                "30% of charge attempts fail on orders.",
                "The share of failed attempts of activity charge on task queue orders has been "
                "above 0.1 for 15 minutes. Retries hide it from the workflows for a while; the "
                "workers' logs carry the failures.",
            ),
        ),
        _case(
            "QueuefleetActivityFailureRatioHigh",
            "30m",
            [
                _s(FAILED,
                   "0+0x40"),
                _s(f"temporal_activity_execution_latency_count{{{ACTIVITY}}}", "0+10x40"),
            ],
            [],
        ),
    ),
    "QueuefleetTemporalServerDown": (
        _case(
            "QueuefleetTemporalServerDown",
            "8m",
            [_s('up{job="temporal"}', "0x10")],
            _fired(
                {"severity": "critical"},
                "The Temporal dev server of the `temporal` job is down.",
                "Its metrics endpoint has not been scraped as up for 5 minutes: workflows "
                "neither start nor progress, and every fleet's backlog reads fail.",
            ),
        ),
        _case("QueuefleetTemporalServerDown", "8m", [_s('up{job="temporal"}', "1x10")], []),
    ),
}  # fmt: skip


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_promtool(), *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_rule_file_passes_promtool_check() -> None:
    result = _run(["check", "rules", str(PLAIN_RULES)])
    assert result.returncode == 0, result.stdout + result.stderr
    alerts = [a for group in alert_groups(PLAIN_TARGET) for a in group.alerts]
    assert f"SUCCESS: {len(alerts)} rules found" in result.stdout


def test_every_alert_has_a_firing_and_a_quiet_case() -> None:
    defined = {a.name for group in alert_groups(PLAIN_TARGET) for a in group.alerts}
    assert set(CASES) == defined


@pytest.mark.parametrize("alert", sorted(CASES))
def test_alert_fires_only_on_its_condition(alert: str, tmp_path: Path) -> None:
    firing, quiet = CASES[alert]
    tests = {
        "rule_files": [str(PLAIN_RULES)],
        "evaluation_interval": "1m",
        "tests": [firing, quiet],
    }
    test_file = tmp_path / "alerts_test.yaml"
    test_file.write_text(yaml.safe_dump(tests, sort_keys=False))
    result = _run(["test", "rules", str(test_file)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_test_can_fail(tmp_path: Path) -> None:
    """The harness notices a wrong expectation (a quiet case expected to fire)."""
    _, quiet = CASES["QueuefleetOperatorDown"]
    firing, _ = CASES["QueuefleetOperatorDown"]
    wrong = {**quiet, "alert_rule_test": firing["alert_rule_test"]}
    tests = {"rule_files": [str(PLAIN_RULES)], "evaluation_interval": "1m", "tests": [wrong]}
    test_file = tmp_path / "alerts_test.yaml"
    test_file.write_text(yaml.safe_dump(tests, sort_keys=False))
    assert _run(["test", "rules", str(test_file)]).returncode != 0


def test_every_alert_has_a_runbook_section() -> None:
    runbook = (Path(__file__).resolve().parents[3] / "docs" / "runbooks" / "alerts.md").read_text()
    for group in alert_groups(PLAIN_TARGET):
        for alert in group.alerts:
            assert f"## {alert.name}\n" in runbook, alert.name


def test_every_alert_links_its_runbook_section() -> None:
    runbook = (Path(__file__).resolve().parents[3] / "docs" / "runbooks" / "alerts.md").read_text()
    # GitHub's anchor of a heading made of letters only: the heading, lower-cased.
    anchors = {line[3:].strip().lower() for line in runbook.splitlines() if line.startswith("## ")}
    for group in alert_groups(PLAIN_TARGET):
        for alert in group.alerts:
            base, _, anchor = alert.rule()["annotations"]["runbook_url"].partition("#")
            assert base == RUNBOOK_BASE_URL, alert.name
            assert anchor in anchors, alert.name


def test_the_chart_schema_names_exactly_the_generated_alerts() -> None:
    schema = json.loads((CHART_DIR / "values.schema.json").read_text())
    rule = schema["properties"]["monitoring"]["properties"]["prometheusRule"]["properties"]
    names = {alert.name for group in alert_groups(PLAIN_TARGET) for alert in group.alerts}
    assert set(rule["disabledAlerts"]["items"]["enum"]) == names
    assert set(rule["thresholds"]["required"]) == set(THRESHOLDS)
    defaults = yaml.safe_load((CHART_DIR / "values.yaml").read_text())
    assert defaults["monitoring"]["prometheusRule"]["thresholds"] == THRESHOLDS
    assert defaults["monitoring"]["prometheusRule"]["runbookBaseUrl"] == RUNBOOK_BASE_URL
