"""Order steps and their compensations, through an injected `OrderServices`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

__all__ = ["InProcessOrderServices", "OrderActivities", "StepInput"]


@dataclass
class StepInput:
    order_id: str
    step: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class InProcessOrderServices:
    """Services in memory; `fail_steps` makes those steps fail every attempt."""

    fail_steps: set[str] = field(default_factory=set)
    done: dict[str, dict[str, Any]] = field(default_factory=dict)  # "order/step" -> result
    log: list[str] = field(default_factory=list)

    async def perform(self, order_id: str, step: str, data: dict[str, Any]) -> dict[str, Any]:
        self.log.append(step)
        if step in self.fail_steps:
            raise RuntimeError(f"{step} failed for order {order_id}")
        # idempotent per order and step: a retry returns the first result
        return self.done.setdefault(
            f"{order_id}/{step}", {"step": step, "ref": f"{step}-{order_id}", **data}
        )


class OrderActivities:
    def __init__(self, services: InProcessOrderServices) -> None:
        self.services = services

    @activity.defn(name="saga.perform_step")
    async def perform_step(self, request: StepInput) -> dict[str, Any]:
        try:
            return await self.services.perform(request.order_id, request.step, request.data)
        except RuntimeError as error:
            raise ApplicationError(str(error), type="StepFailed") from error
