"""The approval and saga packs against the real dev server."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from queuefleet_packs.approval.activities import InProcessTaskStore
from queuefleet_packs.approval.registrar import ApprovalRegistrar
from queuefleet_packs.approval.workflows import ApprovalSignal, TaskExecutionWorkflow, TaskRequest
from queuefleet_packs.saga.activities import InProcessOrderServices
from queuefleet_packs.saga.registrar import SagaRegistrar
from queuefleet_packs.saga.workflows import OrderRequest, OrderSagaWorkflow
from temporalio.client import Client, WorkflowHandle

from tests.temporal.packs.helpers import pack_worker


async def start_task(client: Client, task_queue: str, **overrides: Any) -> WorkflowHandle[Any, Any]:
    task = TaskRequest(
        task_id=uuid.uuid4().hex[:8], requested_by="ana", plan={"steps": ["a"]}, **overrides
    )
    return await client.start_workflow(
        TaskExecutionWorkflow.run, task, id=f"task-{task.task_id}", task_queue=task_queue
    )


async def wait_for_state(handle: WorkflowHandle[Any, Any], state: str, revisions: int = 0) -> None:
    for _ in range(200):
        status = await handle.query(TaskExecutionWorkflow.status)
        if status["state"] == state and status["revisions"] == revisions:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never reached {state} with {revisions} revisions")


async def test_modify_then_approve_executes_the_revised_plan(
    temporal_client: Client, task_queue: str
) -> None:
    store = InProcessTaskStore()
    async with pack_worker(temporal_client, ApprovalRegistrar(task_queue=task_queue, store=store)):
        handle = await start_task(temporal_client, task_queue)
        await wait_for_state(handle, "awaiting_approval")
        await handle.signal(
            TaskExecutionWorkflow.approval,
            ApprovalSignal("modify", "bo", plan={"steps": ["a", "b"]}),
        )
        await wait_for_state(handle, "awaiting_approval", revisions=1)
        await handle.signal(
            TaskExecutionWorkflow.approval, ApprovalSignal("dance", "eve")
        )  # ignored
        await handle.signal(
            TaskExecutionWorkflow.approval, ApprovalSignal("approve", "bo", "looks good")
        )
        result = await handle.result()
    assert (result.outcome, result.decided_by, result.revisions) == ("executed", "bo", 1)
    assert result.result == {"task_id": result.task_id, "ran": ["a", "b"]}
    assert store.states[result.task_id].state == "executed"
    assert store.notifications[0].recipient == "ana"
    assert store.audit_log[0].outcome == "executed"


async def test_rejection_is_recorded_notified_and_audited(
    temporal_client: Client, task_queue: str
) -> None:
    store = InProcessTaskStore()
    async with pack_worker(temporal_client, ApprovalRegistrar(task_queue=task_queue, store=store)):
        handle = await start_task(temporal_client, task_queue)
        await handle.signal(
            TaskExecutionWorkflow.approval, ApprovalSignal("reject", "bo", "too risky")
        )
        result = await handle.result()
    assert (result.outcome, result.reason) == ("rejected", "too risky")
    assert store.states[result.task_id].reason == "too risky"
    assert result.task_id not in store.executed
    assert store.notifications[0].message == f"task {result.task_id} rejected: too risky"
    assert store.audit_log[0].decided_by == "bo"


async def test_approval_timeout_ends_with_its_reason(
    temporal_client: Client, task_queue: str
) -> None:
    store = InProcessTaskStore()
    async with pack_worker(temporal_client, ApprovalRegistrar(task_queue=task_queue, store=store)):
        handle = await start_task(temporal_client, task_queue, approval_timeout_seconds=1)
        result = await handle.result()
    assert (result.outcome, result.reason) == ("timed_out", "no approval decision within 0:00:01")
    assert store.states[result.task_id].state == "timed_out"
    assert store.audit_log[0].outcome == "timed_out"


async def test_too_many_revisions_reject_the_task(temporal_client: Client, task_queue: str) -> None:
    store = InProcessTaskStore()
    async with pack_worker(temporal_client, ApprovalRegistrar(task_queue=task_queue, store=store)):
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


async def run_order(client: Client, task_queue: str, services: InProcessOrderServices) -> Any:
    async with pack_worker(client, SagaRegistrar(task_queue=task_queue, services=services)):
        order = OrderRequest(
            order_id=uuid.uuid4().hex[:8], customer="ana", amount=30.0, items=["x"], step_attempts=2
        )
        return await client.execute_workflow(
            OrderSagaWorkflow.run, order, id=f"order-{order.order_id}", task_queue=task_queue
        )


async def test_saga_completes_every_step(temporal_client: Client, task_queue: str) -> None:
    result = await run_order(temporal_client, task_queue, InProcessOrderServices())
    assert result.status == "completed"
    assert result.completed == [
        "reserve_inventory",
        "charge_payment",
        "create_shipment",
        "send_confirmation",
        "award_loyalty_points",
    ]
    assert result.compensated == []


async def test_failed_critical_step_compensates_in_reverse(
    temporal_client: Client, task_queue: str
) -> None:
    services = InProcessOrderServices(fail_steps={"create_shipment"})
    result = await run_order(temporal_client, task_queue, services)
    assert (result.status, result.failed_step) == ("compensated", "create_shipment")
    assert "create_shipment failed" in result.error
    assert result.compensated == ["refund_payment", "release_inventory"]
    assert services.log.count("create_shipment") == 2  # the declared attempts, then compensation
    assert "send_confirmation" not in services.log


async def test_non_critical_failures_are_warnings_not_aborts(
    temporal_client: Client, task_queue: str
) -> None:
    services = InProcessOrderServices(fail_steps={"send_confirmation"})
    result = await run_order(temporal_client, task_queue, services)
    assert result.status == "completed"
    assert result.warnings == [
        f"send_confirmation: send_confirmation failed for order {result.order_id}"
    ]
    assert result.completed[-1] == "award_loyalty_points"
    assert result.compensated == []
