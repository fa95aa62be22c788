"""The workload the observability tests put on real `queuefleet worker` processes.

Orders that succeed, retry, fail and wait: enough variety that every dashboard panel and
every alert expression has series to read. What an order does follows from its number,
so `queuefleet load --input` (which numbers each workflow) controls the mix.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

from queuefleet_worker.registry import Contribution, RegistrarContext
from temporalio import activity, workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

TASK_QUEUE = "orders"
WORKFLOW_TYPE = "ObservedOrder"


@dataclass
class OrderInput:
    number: str  # "{i}" from the load command: a string
    wait_seconds: float = 0.0  # > 0: a timer, so a short execution timeout times it out


@activity.defn(name="charge_order")
async def charge_order(request: OrderInput) -> str:
    number = int(request.number)
    if number % 10 == 3:  # a declined card: fails the workflow
        raise ApplicationError("card declined", non_retryable=True)
    if number % 4 == 1 and activity.info().attempt == 1:  # a flaky gateway: one retry
        raise ApplicationError("gateway timeout, retrying")
    await asyncio.sleep(0.05)
    return f"charged {number}"


@workflow.defn(name=WORKFLOW_TYPE)
class ObservedOrder:
    @workflow.run
    async def run(self, request: OrderInput) -> str:
        if request.wait_seconds > 0:
            await asyncio.sleep(request.wait_seconds)
        return await workflow.execute_activity(
            charge_order,
            request,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=100)),
        )


class OrdersRegistrar:
    task_queue = TASK_QUEUE

    def register(self, context: RegistrarContext) -> Contribution:
        return Contribution(workflows=[ObservedOrder], activities=[charge_order])
