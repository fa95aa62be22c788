"""Registers the saga pack on `orders.saga.v1`; its ledger lives in `QUEUEFLEET_SAGA_DATABASE`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from queuefleet_worker.registry import Contribution, RegistrarContext

from ..postgres import pack_database_from
from .activities import SCHEMA, OrderActivities, OrderServices
from .workflows import OrderSagaWorkflow

__all__ = ["TASK_QUEUE", "SagaRegistrar", "registrar"]

TASK_QUEUE: Final = "orders.saga.v1"


@dataclass(frozen=True)
class SagaRegistrar:
    task_queue: str = TASK_QUEUE
    # Tests inject services that fail or stall on purpose; else the ledger from the settings.
    services: OrderServices | None = field(default=None, compare=False)

    def register(self, context: RegistrarContext) -> Contribution:
        services = self.services or OrderServices(
            pack_database_from(context.environ, pack="saga", schema=SCHEMA)
        )
        activities = OrderActivities(services)
        return Contribution(workflows=(OrderSagaWorkflow,), activities=(activities.perform_step,))


registrar = SagaRegistrar()
