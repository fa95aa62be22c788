"""The operator's backlog reading against the real Temporal dev server."""

from __future__ import annotations

import socket
import time
import uuid
from datetime import timedelta

import pytest
from queuefleet_operator import backlog
from queuefleet_operator.backlog import BacklogQuery, BacklogReader, TemporalUnreachable
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


async def test_a_failed_connect_fails_the_next_reads_at_once_then_is_tried_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A Temporal that accepts TCP but never answers: the first read waits out the connect
    timeout; reads through the same connection right after fail at once with the same text
    (a status that does not churn); once the memory expires, the next read dials again."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)  # the kernel completes handshakes; nobody ever speaks
        address = f"127.0.0.1:{silent.getsockname()[1]}"
        reader = BacklogReader(timeout_seconds=1)
        query = BacklogQuery(
            address=address, namespace="default", task_queue="q", queue_types=("workflow",)
        )

        async def failed_read() -> tuple[str, float]:
            started = time.monotonic()
            with pytest.raises(TemporalUnreachable) as failure:
                await reader.read(query)
            return str(failure.value), time.monotonic() - started

        first, first_took = await failed_read()
        assert first_took >= 0.9, f"the first read gave up after {first_took:.2f}s"
        again, again_took = await failed_read()
        assert again == first
        assert again_took < 0.2, f"a remembered failure still took {again_took:.2f}s"

        monkeypatch.setattr(backlog, "RECONNECT_AFTER_SECONDS", 0.0)
        _, retried_took = await failed_read()
        assert retried_took >= 0.9, "the connection was not dialled again"
