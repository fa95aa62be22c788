"""Graceful drain and crash recovery of real `queuefleet worker` processes."""

from __future__ import annotations

import signal
import uuid
from datetime import timedelta
from pathlib import Path

from temporalio.api.enums.v1 import PendingActivityState
from temporalio.client import Client, WorkflowHandle

from testbed.temporal import TemporalEndpoint
from tests.temporal.worker.registrars import SleepInput, SleepReport
from tests.temporal.worker.workerproc import start_worker


async def _start_sleep(
    client: Client, task_queue: str, request: SleepInput
) -> WorkflowHandle[object, SleepReport]:
    return await client.start_workflow(
        "SleepWorkflow",
        request,
        id=f"sleep-{uuid.uuid4()}",
        task_queue=task_queue,
        result_type=SleepReport,
        execution_timeout=timedelta(seconds=60),
    )


async def _activity_started(handle: WorkflowHandle[object, SleepReport]) -> bool:
    description = await handle.describe()
    return any(
        pending.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
        for pending in description.raw_description.pending_activities
    )


async def _wait_activity_started(handle: WorkflowHandle[object, SleepReport]) -> None:
    import asyncio
    import time

    deadline = time.monotonic() + 20
    while not await _activity_started(handle):
        assert time.monotonic() < deadline, "the activity never started"
        await asyncio.sleep(0.1)


async def test_sigterm_lets_the_running_activity_finish_and_exits_zero(
    temporal: TemporalEndpoint, temporal_client: Client, task_queue: str, artifacts: Path
) -> None:
    draining = start_worker(
        name="drain",
        task_queue=task_queue,
        address=temporal.address,
        artifacts=artifacts,
        env={"QUEUEFLEET_GRACEFUL_SHUTDOWN_SECONDS": "20"},
    )
    try:
        await draining.wait_ready()
        handle = await _start_sleep(temporal_client, task_queue, SleepInput(seconds=3))
        await _wait_activity_started(handle)

        draining.signal(signal.SIGTERM)
        # Readiness drops at once, while the activity is still running in the process.
        import asyncio

        await asyncio.sleep(0.3)
        assert draining.process.alive(), "the worker exited before its activity finished"
        assert await asyncio.to_thread(draining.status, "/readyz") == 503
        assert await asyncio.to_thread(draining.status, "/healthz") == 200

        assert await draining.wait_exit(timeout=20) == 0
    finally:
        draining.process.stop()

    # The draining worker no longer polls workflow tasks; a successor completes the workflow.
    successor = start_worker(
        name="drain-successor", task_queue=task_queue, address=temporal.address, artifacts=artifacts
    )
    try:
        report = await handle.result()
    finally:
        successor.process.stop()
    assert report.attempt == 1
    assert report.pid == draining.pid
    assert report.saw_shutdown, "the activity should have seen the worker shutting down"


async def test_sigkill_mid_activity_the_workflow_completes_on_a_second_worker(
    temporal: TemporalEndpoint, temporal_client: Client, task_queue: str, artifacts: Path
) -> None:
    first = start_worker(
        name="killed", task_queue=task_queue, address=temporal.address, artifacts=artifacts
    )
    try:
        await first.wait_ready()
        # A short heartbeat timeout, so the server notices the dead worker quickly.
        handle = await _start_sleep(
            temporal_client, task_queue, SleepInput(seconds=3, heartbeat_timeout_seconds=1)
        )
        await _wait_activity_started(handle)
        first.signal(signal.SIGKILL)
        assert await first.wait_exit(timeout=10) == -signal.SIGKILL
    finally:
        first.process.stop()

    second = start_worker(
        name="successor", task_queue=task_queue, address=temporal.address, artifacts=artifacts
    )
    try:
        report = await handle.result()
    finally:
        second.process.stop()
    assert report.pid == second.pid
    assert report.attempt == 2
