"""The benchmark's workload: a workflow with one activity, and its registrar."""

from __future__ import annotations

import os
from datetime import timedelta

from queuefleet_worker.registry import Contribution, RegistrarContext
from temporalio import activity, workflow

TASK_QUEUE_VARIABLE = "BENCH_TASK_QUEUE"


@activity.defn(name="bench_echo")
async def echo(value: int) -> int:
    return value


@workflow.defn(name="BenchWorkflow")
class BenchWorkflow:
    @workflow.run
    async def run(self, value: int) -> int:
        return await workflow.execute_activity(
            "bench_echo", value, result_type=int, start_to_close_timeout=timedelta(seconds=30)
        )


class BenchRegistrar:
    """Serves the queue the benchmark names for this run."""

    @property
    def task_queue(self) -> str:
        return os.environ[TASK_QUEUE_VARIABLE]

    def register(self, context: RegistrarContext) -> Contribution:
        return Contribution(workflows=[BenchWorkflow], activities=[echo])
