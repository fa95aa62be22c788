"""Proves the Temporal fixture: a workflow round-trip through the real dev server."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker


@dataclass
class GreetInput:
    name: str


@activity.defn
async def compose_greeting(request: GreetInput) -> str:
    return f"hello, {request.name}"


@workflow.defn
class GreetWorkflow:
    @workflow.run
    async def run(self, request: GreetInput) -> str:
        return await workflow.execute_activity(
            compose_greeting, request, start_to_close_timeout=timedelta(seconds=10)
        )


async def test_workflow_round_trip(temporal_client: Client, task_queue: str) -> None:
    async with Worker(
        temporal_client,
        task_queue=task_queue,
        workflows=[GreetWorkflow],
        activities=[compose_greeting],
    ):
        result = await temporal_client.execute_workflow(
            GreetWorkflow.run,
            GreetInput(name="fleet"),
            id=f"greet-{uuid.uuid4()}",
            task_queue=task_queue,
            execution_timeout=timedelta(seconds=30),
        )
    assert result == "hello, fleet"
