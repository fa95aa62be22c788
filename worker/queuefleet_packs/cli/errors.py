"""Temporal's refusals as one line that says what to do next.

The server's own messages name the problem ("workflow not found for ID: x"); the lines here
add what the user typed (the namespace, the id) and the command that helps.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from queuefleet_cli.errors import CommandError

if TYPE_CHECKING:
    from temporalio.client import Client

__all__ = ["explain", "first_line", "require_poller"]


def first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0]


def explain(error: BaseException, args: argparse.Namespace) -> CommandError | None:
    """The one-line CommandError for a Temporal client error, or None if it is not one."""
    from temporalio.client import WorkflowQueryFailedError, WorkflowQueryRejectedError
    from temporalio.exceptions import WorkflowAlreadyStartedError
    from temporalio.service import RPCError, RPCStatusCode

    namespace = getattr(args, "namespace", None) or "default"
    workflow_id = getattr(args, "workflow_id", None)
    if isinstance(error, WorkflowAlreadyStartedError):
        return CommandError(
            f"workflow {error.workflow_id!r} is already running in namespace {namespace!r}; "
            f"see it with `queuefleet workflow describe -w {error.workflow_id}`, "
            "or start another with a different -w/--workflow-id"
        )
    if isinstance(error, WorkflowQueryRejectedError):
        status = error.status.name if error.status else "closed"
        return CommandError(f"query rejected: the workflow is {status}")
    if isinstance(error, WorkflowQueryFailedError):
        return CommandError(f"query failed: {first_line(error)}")
    if not isinstance(error, RPCError):
        return None
    message = error.message
    if error.status == RPCStatusCode.NOT_FOUND:
        if message.lower().startswith("namespace"):
            return CommandError(
                f"namespace {namespace!r} does not exist on this server; pass an existing one "
                "with -n/--namespace (`temporal operator namespace list` lists them)"
            )
        if workflow_id and "workflow" in message.lower():
            return CommandError(
                f"no workflow {workflow_id!r} in namespace {namespace!r}; "
                "`queuefleet workflow list` shows the ids there"
            )
        return CommandError(f"not found: {message}")
    if error.status == RPCStatusCode.ALREADY_EXISTS:
        return CommandError(f"already exists: {message}")
    if error.status == RPCStatusCode.INVALID_ARGUMENT:
        return CommandError(f"Temporal rejected the request as invalid: {message}")
    if error.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
        return CommandError(f"Temporal did not answer: {message}; is the server up?")
    if error.status == RPCStatusCode.PERMISSION_DENIED:
        return CommandError(f"Temporal denied the request: {message}; check the API key or mTLS")
    return CommandError(f"Temporal refused the request: {message}")


async def require_poller(client: Client, task_queue: str, *, what: str) -> None:
    """Fail fast, naming the task queue, when no worker polls it for workflow tasks.

    A query to a workflow whose task queue nobody polls otherwise hangs for the server's
    30 s query timeout and then says only "Timeout expired".
    """
    from temporalio.api.enums.v1 import TaskQueueKind, TaskQueueType
    from temporalio.api.taskqueue.v1 import TaskQueue
    from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

    response = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=task_queue, kind=TaskQueueKind.TASK_QUEUE_KIND_NORMAL),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
    )
    if not response.pollers:
        raise CommandError(
            f"no worker polls task queue {task_queue!r} (DescribeTaskQueue lists no pollers), "
            f"so nothing can answer the {what}; start a worker for that task queue "
            f"(`queuefleet worker --task-queue {task_queue}`)"
        )
