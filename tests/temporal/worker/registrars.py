"""Registrars the worker tests load into real `queuefleet worker` processes.

A test starts a worker with `--registrar tests.temporal.worker.registrars:SleepRegistrar`
and sets `QF_TEST_TASK_QUEUE`, so each test serves its own fresh task queue.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from datetime import timedelta

from queuefleet_worker.registry import Contribution, RegistrarContext
from temporalio import activity, workflow
from temporalio.common import RetryPolicy

TASK_QUEUE_VARIABLE = "QF_TEST_TASK_QUEUE"
WORKFLOW_LOG_MESSAGE = "sleep workflow scheduling its activity"
ACTIVITY_LOG_MESSAGE = "sleep activity started"


@dataclass
class SleepInput:
    seconds: float
    heartbeat_timeout_seconds: float = 30.0


@dataclass
class SleepReport:
    attempt: int
    pid: int
    saw_shutdown: bool
    label: str


class SleepActivities:
    """Activities with an injected dependency (the label), not a global."""

    def __init__(self, label: str) -> None:
        self.label = label

    @activity.defn(name="sleep_then_report")
    async def sleep_then_report(self, request: SleepInput) -> SleepReport:
        activity.logger.info(ACTIVITY_LOG_MESSAGE)
        deadline = time.monotonic() + request.seconds
        saw_shutdown = False
        while time.monotonic() < deadline:
            activity.heartbeat()
            saw_shutdown = saw_shutdown or activity.is_worker_shutdown()
            await asyncio.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
        saw_shutdown = saw_shutdown or activity.is_worker_shutdown()
        return SleepReport(
            attempt=activity.info().attempt,
            pid=os.getpid(),
            saw_shutdown=saw_shutdown,
            label=self.label,
        )


@workflow.defn(name="SleepWorkflow")
class SleepWorkflow:
    @workflow.run
    async def run(self, request: SleepInput) -> SleepReport:
        workflow.logger.info(WORKFLOW_LOG_MESSAGE)
        return await workflow.execute_activity(
            "sleep_then_report",
            request,
            result_type=SleepReport,
            start_to_close_timeout=timedelta(seconds=60),
            heartbeat_timeout=timedelta(seconds=request.heartbeat_timeout_seconds),
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=200)),
        )


class SleepRegistrar:
    """Serves the test's task queue with SleepWorkflow and its activity."""

    @property
    def task_queue(self) -> str:
        return os.environ[TASK_QUEUE_VARIABLE]

    def register(self, context: RegistrarContext) -> Contribution:
        activities = SleepActivities(label=context.environ.get("QF_TEST_LABEL", "unlabelled"))
        return Contribution(workflows=[SleepWorkflow], activities=[activities.sleep_then_report])


class OtherQueueRegistrar:
    """Serves a different queue, so a worker for the test queue must not load its work."""

    task_queue = "other-queue"

    def register(self, context: RegistrarContext) -> Contribution:
        raise AssertionError("a registrar for another task queue must not be asked to register")
