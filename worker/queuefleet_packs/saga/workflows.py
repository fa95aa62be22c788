"""`OrderSagaWorkflow`: reserve → charge → ship → confirm → loyalty points.

After each critical step completes, its compensation is registered; when a later critical
step fails, the compensations run newest first and the order ends as `compensated`.
Non-critical steps (confirmation, loyalty) are logged and recorded as warnings when they
fail; they never undo the order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Final

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from .activities import OrderActivities, StepInput

__all__ = ["STEPS", "OrderRequest", "OrderSagaWorkflow", "SagaResult", "SagaStep"]


@dataclass(frozen=True)
class SagaStep:
    name: str
    compensation: str | None  # the step that undoes it; None when nothing needs undoing
    critical: bool = True


STEPS: Final = (
    SagaStep("reserve_inventory", "release_inventory"),
    SagaStep("charge_payment", "refund_payment"),
    SagaStep("create_shipment", "cancel_shipment"),
    SagaStep("send_confirmation", None, critical=False),
    SagaStep("award_loyalty_points", None, critical=False),
)


@dataclass
class OrderRequest:
    order_id: str
    customer: str
    amount: float
    items: list[str] = field(default_factory=list)
    step_attempts: int = 3  # attempts per step before it counts as failed


@dataclass
class SagaResult:
    order_id: str
    status: str  # completed or compensated
    completed: list[str]
    compensated: list[str]
    failed_step: str | None = None
    error: str | None = None
    warnings: list[str] = field(default_factory=list)


@workflow.defn(name="OrderSagaWorkflow")
class OrderSagaWorkflow:
    @workflow.run
    async def run(self, request: OrderRequest) -> SagaResult:
        result = SagaResult(request.order_id, "completed", [], [])
        compensations: list[str] = []
        data = {"customer": request.customer, "amount": request.amount, "items": request.items}
        for step in STEPS:
            try:
                await self._perform(request, step.name, data)
            except ActivityError as error:
                message = getattr(error.cause, "message", str(error))
                if not step.critical:
                    workflow.logger.warning("non-critical step %s failed: %s", step.name, message)
                    result.warnings.append(f"{step.name}: {message}")
                    continue
                result.status, result.failed_step, result.error = "compensated", step.name, message
                for compensation in reversed(compensations):
                    # compensations retry until they succeed: undoing must not be abandoned
                    await self._perform(request, compensation, data, attempts=0)
                    result.compensated.append(compensation)
                return result
            result.completed.append(step.name)
            if step.compensation:
                compensations.append(step.compensation)
        return result

    @staticmethod
    async def _perform(
        request: OrderRequest, step: str, data: dict[str, Any], *, attempts: int | None = None
    ) -> Any:
        return await workflow.execute_activity_method(
            OrderActivities.perform_step,
            StepInput(request.order_id, step, data),
            start_to_close_timeout=timedelta(minutes=2),
            retry_policy=RetryPolicy(
                initial_interval=timedelta(milliseconds=200),
                maximum_interval=timedelta(seconds=30),
                maximum_attempts=request.step_attempts if attempts is None else attempts,
            ),
        )
