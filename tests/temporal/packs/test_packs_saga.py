"""The saga pack against the real dev server and its ledger in a real PostgreSQL."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import psycopg
import pytest
from queuefleet_packs.postgres import pack_database_from
from queuefleet_packs.saga.activities import SCHEMA, OrderServices, StepFailedError
from queuefleet_packs.saga.registrar import SagaRegistrar
from queuefleet_packs.saga.workflows import OrderRequest, OrderSagaWorkflow
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError

from tests.temporal.packs.helpers import pack_worker


class FaultyServices(OrderServices):
    """The real ledger, with steps that fail before their effect or stall after it."""

    def __init__(
        self,
        uri: str,
        *,
        fail: set[str] = frozenset(),
        stall: set[str] = frozenset(),  # type: ignore[assignment]
    ) -> None:
        super().__init__(
            pack_database_from({"QUEUEFLEET_SAGA_DATABASE": uri}, pack="saga", schema=SCHEMA)
        )
        self.fail, self.stall = set(fail), set(stall)
        self.attempts: list[str] = []

    async def perform(self, order_id: str, step: str, data: dict[str, Any]) -> dict[str, Any]:
        self.attempts.append(step)
        if step in self.fail:
            raise StepFailedError(f"{step} failed for order {order_id}")
        result = await super().perform(order_id, step, data)
        if step in self.stall:
            await asyncio.sleep(30)  # the effect is committed; the attempt times out
        return result


def effects(uri: str, order_id: str) -> dict[str, str | None]:
    """step -> the compensation that undid it (None while it stands), from the database."""
    with psycopg.connect(uri) as conn:
        if conn.execute("SELECT to_regclass('saga_effects')").fetchone() == (None,):
            return {}  # the pack creates its table on first use
        rows = conn.execute(
            "SELECT step, undone_by FROM saga_effects WHERE order_id = %s ORDER BY created_at",
            [order_id],
        ).fetchall()
    return dict(rows)


def order(**overrides: Any) -> OrderRequest:
    fields: dict[str, Any] = {"customer": "ana", "amount": 30.0, "items": ["x"], "step_attempts": 2}
    return OrderRequest(order_id=uuid.uuid4().hex[:8], **{**fields, **overrides})


async def run_order(
    client: Client, task_queue: str, services: OrderServices, request: OrderRequest
) -> Any:
    async with pack_worker(client, SagaRegistrar(task_queue=task_queue, services=services)):
        return await client.execute_workflow(
            OrderSagaWorkflow.run, request, id=f"order-{request.order_id}", task_queue=task_queue
        )


async def test_saga_completes_every_step_in_the_ledger(
    temporal_client: Client, task_queue: str, database_uri: str
) -> None:
    request = order()
    environ = {"QUEUEFLEET_SAGA_DATABASE": database_uri}
    async with pack_worker(temporal_client, SagaRegistrar(task_queue=task_queue), environ=environ):
        result = await temporal_client.execute_workflow(
            OrderSagaWorkflow.run, request, id=f"order-{request.order_id}", task_queue=task_queue
        )
    steps = ["reserve_inventory", "charge_payment", "create_shipment", "send_confirmation",
             "award_loyalty_points"]  # fmt: skip
    assert (result.status, result.completed, result.compensated) == ("completed", steps, [])
    assert effects(database_uri, request.order_id) == dict.fromkeys(steps)


async def test_failed_critical_step_compensates_in_reverse(
    temporal_client: Client, task_queue: str, database_uri: str
) -> None:
    services = FaultyServices(database_uri, fail={"create_shipment"})
    request = order()
    result = await run_order(temporal_client, task_queue, services, request)
    assert (result.status, result.failed_step) == ("compensated", "create_shipment")
    assert "create_shipment failed" in result.error
    # the failed step's own compensation runs too (it undoes nothing: no effect was written)
    assert result.compensated == ["cancel_shipment", "refund_payment", "release_inventory"]
    assert services.attempts.count("create_shipment") == 2  # the declared attempts
    assert effects(database_uri, request.order_id) == {
        "reserve_inventory": "release_inventory",
        "charge_payment": "refund_payment",
    }


async def test_a_step_that_timed_out_after_its_effect_is_undone(
    temporal_client: Client, task_queue: str, database_uri: str
) -> None:
    services = FaultyServices(database_uri, stall={"create_shipment"})
    request = order(step_timeout_seconds=1.0)
    result = await run_order(temporal_client, task_queue, services, request)
    assert (result.status, result.failed_step) == ("compensated", "create_shipment")
    assert result.error.startswith("timed out")
    assert effects(database_uri, request.order_id) == {
        "reserve_inventory": "release_inventory",
        "charge_payment": "refund_payment",
        "create_shipment": "cancel_shipment",  # its effect stood although the step "failed"
    }


async def test_cancelling_the_saga_runs_the_compensations(
    temporal_client: Client, task_queue: str, database_uri: str
) -> None:
    services = FaultyServices(database_uri, stall={"create_shipment"})
    request = order(step_timeout_seconds=60.0)
    async with pack_worker(
        temporal_client, SagaRegistrar(task_queue=task_queue, services=services)
    ):
        handle = await temporal_client.start_workflow(
            OrderSagaWorkflow.run, request, id=f"order-{request.order_id}", task_queue=task_queue
        )
        deadline = time.monotonic() + 30
        while "create_shipment" not in effects(database_uri, request.order_id):
            assert time.monotonic() < deadline, "the shipment was never written"
            await asyncio.sleep(0.1)
        await handle.cancel()
        with pytest.raises(WorkflowFailureError):
            await handle.result()
        description = await handle.describe()
        status = await handle.query(OrderSagaWorkflow.status)
    assert description.status == WorkflowExecutionStatus.CANCELED
    assert status["compensated"] == ["cancel_shipment", "refund_payment", "release_inventory"]
    assert effects(database_uri, request.order_id) == {
        "reserve_inventory": "release_inventory",
        "charge_payment": "refund_payment",
        "create_shipment": "cancel_shipment",
    }


async def test_non_critical_failures_are_warnings_not_aborts(
    temporal_client: Client, task_queue: str, database_uri: str
) -> None:
    services = FaultyServices(database_uri, fail={"send_confirmation"})
    request = order()
    result = await run_order(temporal_client, task_queue, services, request)
    assert result.status == "completed"
    assert result.warnings == [
        f"send_confirmation: send_confirmation failed for order {request.order_id}"
    ]
    assert result.completed[-1] == "award_loyalty_points"
    assert result.compensated == []
