"""What a real worker exposes after running a workflow: /metrics and JSON log lines."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families
from temporalio.client import Client

from testbed.temporal import TemporalEndpoint
from tests.temporal.worker.registrars import (
    ACTIVITY_LOG_MESSAGE,
    WORKFLOW_LOG_MESSAGE,
    SleepInput,
    SleepReport,
)
from tests.temporal.worker.workerproc import WorkerProcess, eventually, start_worker

SDK_SERIES = (
    "temporal_worker_task_slots_available",
    "temporal_worker_task_slots_used",
    "temporal_workflow_task_schedule_to_start_latency",
    "temporal_activity_schedule_to_start_latency",
    "temporal_workflow_task_execution_latency",
    "temporal_activity_execution_latency",
    "temporal_workflow_task_queue_poll_succeed",
    "temporal_workflow_completed",
)
RUNTIME_SERIES = (
    "queuefleet_worker_build_info",
    "queuefleet_worker_registrars_loaded",
    "queuefleet_worker_workflows_registered",
    "queuefleet_worker_activities_registered",
    "queuefleet_worker_draining",
)


async def _run_one_workflow(client: Client, worker: WorkerProcess) -> tuple[str, str]:
    await worker.wait_ready()
    handle = await client.start_workflow(
        "SleepWorkflow",
        SleepInput(seconds=0),
        id=f"observed-{uuid.uuid4()}",
        task_queue=worker.task_queue,
        result_type=SleepReport,
        execution_timeout=timedelta(seconds=30),
    )
    await handle.result()
    assert handle.result_run_id is not None
    return handle.id, handle.result_run_id


def _samples(exposition: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Sample name -> (labels, value); parsing also proves the joined text is valid."""
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            samples.setdefault(family.name, []).append((dict(sample.labels), sample.value))
    return samples


async def test_metrics_hold_sdk_and_runtime_series_labelled_with_the_queue(
    temporal: TemporalEndpoint, temporal_client: Client, task_queue: str, artifacts: Path
) -> None:
    worker = start_worker(
        name="metrics", task_queue=task_queue, address=temporal.address, artifacts=artifacts
    )
    try:
        await _run_one_workflow(temporal_client, worker)
        # The core publishes some histograms a moment after the task completes.
        await eventually(
            lambda: all(name in _samples(worker.text("/metrics")) for name in SDK_SERIES),
            timeout=10,
            what="every SDK series on /metrics",
        )
        samples = await asyncio.to_thread(lambda: _samples(worker.text("/metrics")))
    finally:
        worker.process.stop()

    for name in SDK_SERIES + RUNTIME_SERIES:
        labelled = [labels for labels, _ in samples[name] if labels.get("task_queue") == task_queue]
        assert labelled, f"{name} has no series for task queue {task_queue}"
        assert all(labels.get("namespace") == "default" for labels in labelled), name
    completed = [
        v
        for labels, v in samples["temporal_workflow_completed"]
        if labels["task_queue"] == task_queue
    ]
    assert sum(completed) == 1
    assert [v for _, v in samples["queuefleet_worker_registrars_loaded"]] == [1]
    assert [v for _, v in samples["queuefleet_worker_draining"]] == [0]
    # One process, one port: its own process series are there too.
    assert "process_cpu_seconds" in samples


async def test_json_log_lines_from_workflow_and_activity_carry_their_ids(
    temporal: TemporalEndpoint, temporal_client: Client, task_queue: str, artifacts: Path
) -> None:
    worker = start_worker(
        name="json-logs",
        task_queue=task_queue,
        address=temporal.address,
        artifacts=artifacts,
        env={"QUEUEFLEET_LOG_FORMAT": "json"},
    )
    try:
        workflow_id, run_id = await _run_one_workflow(temporal_client, worker)
    finally:
        worker.process.stop()

    lines = list(worker.json_logs())
    assert lines, "the worker wrote no JSON lines"
    assert all(line["task_queue"] == task_queue for line in lines)
    [workflow_line] = [line for line in lines if line["message"] == WORKFLOW_LOG_MESSAGE]
    assert workflow_line["workflow_id"] == workflow_id
    assert workflow_line["run_id"] == run_id
    assert workflow_line["attempt"] == 1
    assert workflow_line["workflow_type"] == "SleepWorkflow"
    [activity_line] = [line for line in lines if line["message"] == ACTIVITY_LOG_MESSAGE]
    assert activity_line["workflow_id"] == workflow_id
    assert activity_line["run_id"] == run_id
    assert activity_line["activity_type"] == "sleep_then_report"
    assert activity_line["attempt"] == 1
    # Every line of the process is JSON, including the runtime's and the SDK's own.
    assert len(lines) == len(worker.log_lines())
