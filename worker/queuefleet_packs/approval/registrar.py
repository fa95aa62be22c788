"""Registers the approval pack on `tasks.approval.v1`; its tables live in
`QUEUEFLEET_APPROVAL_DATABASE`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from queuefleet_worker.registry import Contribution, RegistrarContext

from ..postgres import pack_database_from
from .activities import SCHEMA, PostgresTaskStore, TaskActivities
from .workflows import TaskExecutionWorkflow

__all__ = ["TASK_QUEUE", "ApprovalRegistrar", "registrar"]

TASK_QUEUE: Final = "tasks.approval.v1"


@dataclass(frozen=True)
class ApprovalRegistrar:
    task_queue: str = TASK_QUEUE

    def register(self, context: RegistrarContext) -> Contribution:
        database = pack_database_from(context.environ, pack="approval", schema=SCHEMA)
        activities = TaskActivities(PostgresTaskStore(database))
        return Contribution(
            workflows=(TaskExecutionWorkflow,),
            activities=(
                activities.record_state,
                activities.record_decision,
                activities.execute_task,
                activities.notify,
                activities.write_audit,
            ),
        )


registrar = ApprovalRegistrar()
