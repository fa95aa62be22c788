"""The operator's backlog reading against the real Temporal dev server."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

from queuefleet_operator.backlog import BacklogQuery, BacklogReader
from temporalio.client import Client

from testbed.temporal import TemporalEndpoint


async def test_backlog_counts_workflows_waiting_on_a_queue_without_workers(
    temporal: TemporalEndpoint, temporal_client: Client, task_queue: str
) -> None:
    for _ in range(4):
        await temporal_client.start_workflow(
            "NobodyRunsThis",
            id=f"wf-{uuid.uuid4()}",
            task_queue=task_queue,
            execution_timeout=timedelta(minutes=5),
        )
    reader = BacklogReader(timeout_seconds=5)
    query = BacklogQuery(
        address=temporal.address,
        namespace=temporal.namespace,
        task_queue=task_queue,
        queue_types=("workflow", "activity"),
    )
    # Stats are approximate and eventually consistent: poll until they settle.
    deadline = time.monotonic() + 30
    count = -1
    while time.monotonic() < deadline:
        count = (await reader.read(query)).approximate_count
        if count == 4:
            break
        time.sleep(0.5)
    assert count == 4


async def test_unreachable_temporal_fails_within_the_timeout() -> None:
    reader = BacklogReader(timeout_seconds=1)
    query = BacklogQuery(
        address="127.0.0.1:9", namespace="default", task_queue="q", queue_types=("workflow",)
    )
    started = time.monotonic()
    try:
        await reader.read(query)
    except Exception:
        pass
    else:
        raise AssertionError("reading from a closed port succeeded")
    assert time.monotonic() - started < 5
