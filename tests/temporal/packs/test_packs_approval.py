"""The approval pack against the real dev server, with its tables in a real PostgreSQL."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import psycopg
import pytest
from queuefleet_packs.approval.registrar import ApprovalRegistrar
from queuefleet_packs.approval.workflows import ApprovalSignal, TaskExecutionWorkflow, TaskRequest
from queuefleet_worker.registry import RegistrarContext, RegistryError, assemble
from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Worker

from tests.temporal.packs.helpers import pack_worker


def worker(client: Client, task_queue: str, uri: str) -> Worker:
    return pack_worker(
        client, ApprovalRegistrar(task_queue=task_queue),
        environ={"QUEUEFLEET_APPROVAL_DATABASE": uri},
    )  # fmt: skip


async def start_task(client: Client, task_queue: str, **overrides: Any) -> WorkflowHandle[Any, Any]:
    task = TaskRequest(
        task_id=uuid.uuid4().hex[:8], requested_by="ana", plan={"steps": ["a"]}, **overrides
    )
    return await client.start_workflow(
        TaskExecutionWorkflow.run, task, id=f"task-{task.task_id}", task_queue=task_queue
    )


async def wait_for_state(handle: WorkflowHandle[Any, Any], state: str, revisions: int = 0) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        status = await handle.query(TaskExecutionWorkflow.status)
        if status["state"] == state and status["revisions"] == revisions:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never reached {state} with {revisions} revisions")


def rows(uri: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(uri) as conn:
        return conn.execute(sql, list(params)).fetchall()


async def test_modify_then_approve_executes_the_revised_plan(
    temporal_client: Client, task_queue: str, database_uri: str
) -> None:
    async with worker(temporal_client, task_queue, database_uri):
        handle = await start_task(temporal_client, task_queue)
        await wait_for_state(handle, "awaiting_approval")
        await handle.signal(
            TaskExecutionWorkflow.approval,
            ApprovalSignal("modify", "bo", plan={"steps": ["a", "b"]}),
        )
        await wait_for_state(handle, "awaiting_approval", revisions=1)
        await handle.signal(TaskExecutionWorkflow.approval, ApprovalSignal("dance", "eve"))
        await handle.signal(
            TaskExecutionWorkflow.approval, ApprovalSignal("approve", "bo", "looks good")
        )
        result = await handle.result()
    task = result.task_id
    assert (result.outcome, result.decided_by, result.revisions) == ("executed", "bo", 1)
    assert result.result == {"task_id": task, "ran": ["a", "b"]}
    assert rows(
        database_uri,
        "SELECT state, plan, workflow_id FROM approval_tasks WHERE task_id = %s", task,
    ) == [("executed", {"steps": ["a", "b"]}, handle.id)]  # fmt: skip
    assert rows(
        database_uri,
        "SELECT seq, action, decided_by, accepted, note FROM approval_decisions "
        "WHERE task_id = %s ORDER BY seq", task,
    ) == [
        (1, "modify", "bo", True, ""),
        (2, "dance", "eve", False, "unknown action 'dance' (expected approve, reject, modify)"),
        (3, "approve", "bo", True, ""),
    ]  # fmt: skip
    assert rows(
        database_uri, "SELECT recipient FROM approval_notifications WHERE task_id = %s", task
    ) == [("ana",)]
    assert rows(
        database_uri,
        "SELECT outcome, decided_by, revisions FROM approval_audit WHERE task_id = %s", task,
    ) == [("executed", "bo", 1)]  # fmt: skip


async def test_only_the_named_approvers_decide(
    temporal_client: Client, task_queue: str, database_uri: str
) -> None:
    async with worker(temporal_client, task_queue, database_uri):
        handle = await start_task(temporal_client, task_queue, approvers=["carol"])
        await handle.signal(TaskExecutionWorkflow.approval, ApprovalSignal("approve", "mallory"))
        await handle.signal(
            TaskExecutionWorkflow.approval, ApprovalSignal("reject", "carol", "too risky")
        )
        result = await handle.result()
    task = result.task_id
    assert (result.outcome, result.decided_by, result.reason) == ("rejected", "carol", "too risky")
    assert rows(
        database_uri,
        "SELECT decided_by, accepted, note FROM approval_decisions WHERE task_id = %s ORDER BY seq",
        task,
    ) == [("mallory", False, "'mallory' is not an approver (carol)"), ("carol", True, "")]
    assert rows(database_uri, "SELECT * FROM approval_executions WHERE task_id = %s", task) == []
    assert rows(
        database_uri, "SELECT state, reason FROM approval_tasks WHERE task_id = %s", task
    ) == [("rejected", "too risky")]
    assert rows(
        database_uri, "SELECT message FROM approval_notifications WHERE task_id = %s", task
    ) == [(f"task {task} rejected: too risky",)]


async def test_approval_timeout_ends_with_its_reason(
    temporal_client: Client, task_queue: str, database_uri: str
) -> None:
    async with worker(temporal_client, task_queue, database_uri):
        handle = await start_task(temporal_client, task_queue, approval_timeout_seconds=1)
        result = await handle.result()
    assert (result.outcome, result.reason) == ("timed_out", "no approval decision within 0:00:01")
    assert rows(
        database_uri, "SELECT outcome FROM approval_audit WHERE task_id = %s", result.task_id
    ) == [("timed_out",)]


async def test_too_many_revisions_reject_the_task(
    temporal_client: Client, task_queue: str, database_uri: str
) -> None:
    async with worker(temporal_client, task_queue, database_uri):
        handle = await start_task(temporal_client, task_queue, max_revisions=1)
        for step in ("b", "c"):
            await handle.signal(
                TaskExecutionWorkflow.approval,
                ApprovalSignal("modify", "bo", plan={"steps": [step]}),
            )
        result = await handle.result()
    assert (result.outcome, result.reason, result.plan) == (
        "rejected",
        "more than 1 revisions requested",
        {"steps": ["b"]},
    )


def test_the_registrar_needs_a_database() -> None:
    context = RegistrarContext(task_queue="tasks.approval.v1", namespace="default")
    with pytest.raises(RegistryError) as caught:
        assemble([ApprovalRegistrar()], context)
    assert str(caught.value) == (
        "approval pack needs PostgreSQL: set QUEUEFLEET_APPROVAL_DATABASE to a libpq URI "
        "(postgresql://user:password@host:5432/db) or QUEUEFLEET_APPROVAL_DATABASE_FILE "
        "to a file holding one"
    )
