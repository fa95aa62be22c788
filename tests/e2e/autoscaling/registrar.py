"""A registrar for autoscaling tests: a quick workflow on whichever queue the pod serves.

The worker Deployment's pods name their task queue in QUEUEFLEET_TASK_QUEUE; serving that
queue lets every test use a fresh one. The workflow runs one short activity, so a backlog
drains in a predictable time once workers exist.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from datetime import timedelta

from queuefleet_worker import contract
from queuefleet_worker.registry import Contribution, RegistrarContext
from temporalio import activity, workflow
from temporalio.common import RetryPolicy

__all__ = ["WORKFLOW", "ProbeInput", "registrar"]

WORKFLOW = "AutoscalingProbe"


@dataclass
class ProbeInput:
    work_seconds: float = 0.2


@activity.defn(name="autoscaling_probe_work")
async def work(seconds: float) -> str:
    await asyncio.sleep(seconds)
    return activity.info().task_queue


@workflow.defn(name=WORKFLOW)
class AutoscalingProbe:
    @workflow.run
    async def run(self, probe: ProbeInput) -> str:
        return await workflow.execute_activity(
            work,
            probe.work_seconds,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(maximum_attempts=3),
        )


class QueueOfThePod:
    """Serves the task queue named in the pod's environment."""

    @property
    def task_queue(self) -> str:
        return os.environ.get(contract.ENV_TASK_QUEUE, "")

    def register(self, context: RegistrarContext) -> Contribution:
        return Contribution(workflows=(AutoscalingProbe,), activities=(work,))


registrar = QueueOfThePod()
