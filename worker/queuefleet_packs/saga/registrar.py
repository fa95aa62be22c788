"""Registers the saga pack on `orders.saga.v1`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from queuefleet_worker.registry import Contribution, RegistrarContext

from .activities import InProcessOrderServices, OrderActivities
from .workflows import OrderSagaWorkflow

__all__ = ["TASK_QUEUE", "SagaRegistrar", "registrar"]

TASK_QUEUE: Final = "orders.saga.v1"


@dataclass(frozen=True)
class SagaRegistrar:
    task_queue: str = TASK_QUEUE
    services: InProcessOrderServices | None = field(default=None, compare=False)  # set by tests

    def register(self, context: RegistrarContext) -> Contribution:
        activities = OrderActivities(self.services or InProcessOrderServices())
        return Contribution(workflows=(OrderSagaWorkflow,), activities=(activities.perform_step,))


registrar = SagaRegistrar()
