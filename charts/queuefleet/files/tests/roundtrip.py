"""`helm test`: one workflow round-trip against the release's Temporal.

Connects like every queuefleet client (TEMPORAL_* variables through temporalio.envconfig),
runs a worker for a fresh task queue in this process, executes a workflow that calls an
activity, and checks the result. Exit code 0 means Temporal accepted, dispatched, ran and
completed the work end to end.
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.envconfig import ClientConfig
from temporalio.worker import Worker


@activity.defn
async def echo(text: str) -> str:
    return f"echo: {text}"


@workflow.defn
class RoundTrip:
    @workflow.run
    async def run(self, text: str) -> str:
        return await workflow.execute_activity(
            echo, text, start_to_close_timeout=timedelta(seconds=30)
        )


async def round_trip(execution_timeout: float) -> str:
    client = await Client.connect(**ClientConfig.load_client_connect_config())
    task_queue = f"queuefleet-helm-test-{uuid.uuid4()}"
    async with Worker(client, task_queue=task_queue, workflows=[RoundTrip], activities=[echo]):
        return await client.execute_workflow(
            RoundTrip.run,
            "hello",
            id=task_queue,
            task_queue=task_queue,
            execution_timeout=timedelta(seconds=execution_timeout),
        )


def main() -> int:
    timeout = float(os.environ.get("ROUNDTRIP_TIMEOUT_SECONDS", "60"))
    address = os.environ.get("TEMPORAL_ADDRESS", "localhost:7233")
    try:
        result = asyncio.run(asyncio.wait_for(round_trip(timeout), timeout))
    except Exception as error:  # any failure is the test's verdict, printed as one line
        print(f"round-trip against {address} failed: {type(error).__name__}: {error}")
        return 1
    if result != "echo: hello":
        print(f"round-trip against {address} returned {result!r}, expected 'echo: hello'")
        return 1
    print(f"round-trip against {address} completed: {result}")
    return 0


def exit_skipping_finalization(code: int) -> None:
    """Leave without interpreter finalization, as the worker and the CLI do.

    The SDK's native threads can call into Python while the interpreter finalizes and
    abort the process (temporalio/sdk-python#300), which would turn a verdict into SIGABRT.
    Everything is printed by now, so flush and leave.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    exit_skipping_finalization(main())
