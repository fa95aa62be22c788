"""Registers the approval pack on `tasks.approval.v1`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from queuefleet_worker.registry import Contribution, RegistrarContext

from .activities import InProcessTaskStore, TaskActivities, TaskStore
from .workflows import TaskExecutionWorkflow

__all__ = ["TASK_QUEUE", "ApprovalRegistrar", "registrar"]

TASK_QUEUE: Final = "tasks.approval.v1"


@dataclass(frozen=True)
class ApprovalRegistrar:
    task_queue: str = TASK_QUEUE
    store: TaskStore | None = field(default=None, compare=False)  # set by tests; else in-process

    def register(self, context: RegistrarContext) -> Contribution:
        activities = TaskActivities(self.store or InProcessTaskStore())
        return Contribution(
            workflows=(TaskExecutionWorkflow,),
            activities=(
                activities.record_state,
                activities.execute_task,
                activities.notify,
                activities.write_audit,
            ),
        )


registrar = ApprovalRegistrar()
