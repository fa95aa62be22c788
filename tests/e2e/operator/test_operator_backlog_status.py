"""The live backlog: what Temporal reports for a queue is what the WorkflowQueue's status and
the operator's Prometheus gauge say.

Workflows are started on a task queue that no worker polls, so their first workflow tasks
wait in the backlog; the operator (a local process) reads it from the dev server on loopback.
"""

from __future__ import annotations

import asyncio
import time
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from temporalio.api.enums.v1 import TaskQueueKind, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from testbed.cluster import Cluster, install_crds
from testbed.process import Process, free_port
from testbed.temporal import TemporalEndpoint
from tests.cluster.operator.conftest import CRD_DIR, apply_queue, condition, get, start_operator

WORKFLOWS = 3
DEADLINE_SECONDS = 60.0
QUEUE = "backlog"
BACKLOG_GAUGE = "queuefleet_operator_backlog_tasks"


@pytest.fixture
def metrics_port() -> int:
    return free_port()


@pytest.fixture
def operator(
    kube: Cluster,
    namespace: str,
    temporal: TemporalEndpoint,
    metrics_port: int,
    artifacts: Path,
) -> Iterator[Process]:
    """The operator watching this test's namespace, with the real dev server as its default."""
    install_crds(kube, CRD_DIR)
    process = start_operator(
        kube, namespace, artifacts, temporal_address=temporal.address, metrics_port=metrics_port
    )
    yield process
    process.stop()


async def temporal_backlog(client: Client, task_queue: str) -> int:
    """DescribeTaskQueue with stats, summed over workflow and activity tasks (the defaults)."""
    total = 0
    for queue_type in (
        TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
    ):
        response = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=client.namespace,
                task_queue=TaskQueue(name=task_queue, kind=TaskQueueKind.TASK_QUEUE_KIND_NORMAL),
                task_queue_type=queue_type,
                report_stats=True,
            )
        )
        total += response.stats.approximate_backlog_count
    return total


def gauge_value(metrics_port: int, namespace: str, task_queue: str) -> float | None:
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as page:
        text = page.read().decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == BACKLOG_GAUGE and sample.labels == {
                "namespace": namespace,
                "workflowqueue": QUEUE,
                "task_queue": task_queue,
            }:
                return float(sample.value)
    return None


def status_backlog(kube: Cluster, namespace: str) -> int | None:
    queue = get(kube, namespace, "workflowqueue", QUEUE) or {}
    backlog = (queue.get("status") or {}).get("backlog") or {}
    count = backlog.get("approximateCount")
    return None if count is None else int(count)


async def test_status_backlog_matches_what_temporal_reports(
    operator: Process,
    kube: Cluster,
    namespace: str,
    temporal_client: Client,
    task_queue: str,
    metrics_port: int,
) -> None:
    for _ in range(WORKFLOWS):
        await temporal_client.start_workflow(
            "NobodyPollsThisQueue",
            id=f"wf-{uuid.uuid4()}",
            task_queue=task_queue,
            execution_timeout=timedelta(minutes=5),
        )
    apply_queue(kube, namespace, QUEUE, taskQueue=task_queue)

    # Temporal's stats and the operator's timer are both eventually consistent: poll until
    # all three sources agree on the number of waiting workflow tasks.
    deadline = time.monotonic() + DEADLINE_SECONDS
    seen: tuple[int, int | None, float | None] = (-1, None, None)
    while time.monotonic() < deadline:
        seen = (
            await temporal_backlog(temporal_client, task_queue),
            status_backlog(kube, namespace),
            gauge_value(metrics_port, namespace, task_queue),
        )
        if seen == (WORKFLOWS, WORKFLOWS, WORKFLOWS):
            break
        await asyncio.sleep(0.5)
    temporal_count, status_count, gauge = seen
    assert temporal_count == WORKFLOWS, f"Temporal reports {temporal_count} (want {WORKFLOWS})"
    assert status_count == temporal_count, f"status says {status_count}, Temporal {temporal_count}"
    assert gauge == temporal_count, f"the gauge says {gauge}, Temporal {temporal_count}"

    reachable = condition(kube, namespace, QUEUE, "TemporalReachable")
    assert (reachable["status"], reachable["reason"]) == ("True", "BacklogRead")
    backlog = (get(kube, namespace, "workflowqueue", QUEUE) or {})["status"]["backlog"]
    assert backlog["observedAt"]
    assert backlog["approximateAgeSeconds"] >= 0
