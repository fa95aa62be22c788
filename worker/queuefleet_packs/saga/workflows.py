"""`OrderSagaWorkflow`: reserve → charge → ship → confirm → loyalty points.

A critical step's compensation is registered *before* the step runs: a step that timed out
after its side effect took place is still undone (compensations are idempotent and undo
nothing when their step never took effect). When a critical step fails, the registered
compensations run newest first and the order ends as `compensated`. Cancelling the saga
runs them too, in a task shielded from the cancellation, then the run ends as cancelled.
Non-critical steps (confirmation, loyalty) are logged and recorded as warnings when they
fail; they never undo the order.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Final

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from ..shield import shielded
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
    step_timeout_seconds: float = 120.0  # one attempt of one step


@dataclass
class SagaResult:
    order_id: str
    status: str  # completed or compensated (a cancelled saga ends as cancelled instead)
    completed: list[str]
    compensated: list[str]
    failed_step: str | None = None
    error: str | None = None
    warnings: list[str] = field(default_factory=list)


@workflow.defn(name="OrderSagaWorkflow")
class OrderSagaWorkflow:
    def __init__(self) -> None:
        self._phase = "starting"
        self._result: SagaResult | None = None

    @workflow.query
    def status(self) -> dict[str, Any]:
        result = self._result
        return {
            "phase": self._phase,
            "completed": list(result.completed) if result else [],
            "compensated": list(result.compensated) if result else [],
        }

    @workflow.run
    async def run(self, request: OrderRequest) -> SagaResult:
        result = self._result = SagaResult(request.order_id, "completed", [], [])
        registered: list[SagaStep] = []  # steps whose compensation must run on failure
        data = {"customer": request.customer, "amount": request.amount, "items": request.items}
        try:
            for step in STEPS:
                if step.compensation:
                    registered.append(step)  # before the step: its effect may outlive a timeout
                self._phase = step.name
                try:
                    await self._perform(request, StepInput(request.order_id, step.name, data))
                except ActivityError as error:
                    if is_cancelled_exception(error):
                        raise asyncio.CancelledError from error  # the saga itself was cancelled
                    message = _failure_message(error)
                    if not step.critical:
                        workflow.logger.warning(
                            "non-critical step %s failed: %s", step.name, message
                        )
                        result.warnings.append(f"{step.name}: {message}")
                        continue
                    result.status, result.failed_step, result.error = (
                        "compensated", step.name, message,
                    )  # fmt: skip
                    await self._compensate(request, registered, data)
                    return result
                result.completed.append(step.name)
        except asyncio.CancelledError:
            workflow.logger.info("order %s cancelled: compensating", request.order_id)
            await shielded(self._compensate(request, registered, data))
            self._phase = "cancelled"
            raise
        self._phase = "completed"
        return result

    async def _compensate(
        self, request: OrderRequest, registered: list[SagaStep], data: dict[str, Any]
    ) -> None:
        self._phase = "compensating"
        assert self._result is not None
        for step in reversed(registered):
            assert step.compensation is not None
            # compensations retry until they succeed: undoing must not be abandoned
            await self._perform(
                request,
                StepInput(request.order_id, step.compensation, data, undoes=step.name),
                attempts=0,
            )
            self._result.compensated.append(step.compensation)
        registered.clear()
        self._phase = "compensated"

    @staticmethod
    async def _perform(
        request: OrderRequest, step: StepInput, *, attempts: int | None = None
    ) -> Any:
        return await workflow.execute_activity_method(
            OrderActivities.perform_step,
            step,
            start_to_close_timeout=timedelta(seconds=request.step_timeout_seconds),
            retry_policy=RetryPolicy(
                initial_interval=timedelta(milliseconds=200),
                maximum_interval=timedelta(seconds=30),
                maximum_attempts=request.step_attempts if attempts is None else attempts,
            ),
        )


def _failure_message(error: ActivityError) -> str:
    cause = error.cause
    message = getattr(cause, "message", None) or str(error)
    if cause is not None and type(cause).__name__ == "TimeoutError":
        return f"timed out: {message}"
    return str(message)
