"""Small pure parts of the runtime: when a backlog reading is published, queue metrics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import generate_latest
from queuefleet_operator.backlog import BacklogQuery, TLSMaterial, supersedes
from queuefleet_operator.metrics import OperatorMetrics
from queuefleet_operator.observed import BacklogReading

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def reading(count: int, at: datetime, age: float = 0.0) -> BacklogReading:
    return BacklogReading(
        approximate_count=count,
        approximate_age_seconds=age,
        add_rate=0.0,
        dispatch_rate=0.0,
        observed_at=at,
    )


@pytest.mark.parametrize(
    ("new", "old", "published"),
    [
        (reading(1, T0), None, True),
        (reading(2, T0 + timedelta(seconds=30)), reading(1, T0), True),
        (reading(1, T0 + timedelta(seconds=30)), reading(1, T0), False),
        (reading(1, T0 + timedelta(minutes=5)), reading(1, T0), True),
        (reading(1, T0 + timedelta(seconds=30), age=9), reading(1, T0, age=1), True),
    ],
)
def test_quiet_queues_do_not_rewrite_status(
    new: BacklogReading, old: BacklogReading | None, published: bool
) -> None:
    assert supersedes(new, old, max_age=timedelta(minutes=5)) is published


def test_client_key_never_contains_the_secret() -> None:
    query = BacklogQuery(
        address="t:7233",
        namespace="n",
        task_queue="q",
        queue_types=("workflow",),
        tls=TLSMaterial(client_key=b"PRIVATE"),
        api_key="sekrit",
    )
    key = repr(query.client_key())
    assert "sekrit" not in key
    assert "PRIVATE" not in key


def test_queues_by_condition_are_counted_at_scrape_time() -> None:
    statuses = [
        {"conditions": [{"type": "Ready", "status": "True"}]},
        {"conditions": [{"type": "Ready", "status": "True"}]},
        {"conditions": [{"type": "Ready", "status": "False"}]},
    ]
    metrics = OperatorMetrics(statuses=lambda: statuses)
    text = generate_latest(metrics.registry).decode()
    assert 'queuefleet_operator_queues{condition="Ready",status="True"} 2.0' in text
    assert 'queuefleet_operator_queues{condition="Ready",status="False"} 1.0' in text


def series(metrics: OperatorMetrics, name: str) -> set[str]:
    text = generate_latest(metrics.registry).decode()
    return {line.split(" ")[0] for line in text.splitlines() if line.startswith(name + "{")}


def test_backlog_gauges_follow_a_task_queue_rename_and_leave_with_the_queue() -> None:
    metrics = OperatorMetrics()
    metrics.export_backlog(
        "ns", "orders", "old-tq", count=3, age_seconds=1, previous_task_queue=None
    )
    metrics.export_backlog(
        "ns", "orders", "new-tq", count=4, age_seconds=2, previous_task_queue="old-tq"
    )
    gauge = "queuefleet_operator_backlog_tasks"
    assert series(metrics, gauge) == {
        f'{gauge}{{namespace="ns",task_queue="new-tq",workflowqueue="orders"}}'
    }
    metrics.forget_queue("ns", "orders", "new-tq")
    assert series(metrics, gauge) == set()
    assert series(metrics, "queuefleet_operator_backlog_age_seconds") == set()
