"""Approval activities, recording into an injected `TaskStore`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from temporalio import activity

__all__ = [
    "AuditEntry",
    "InProcessTaskStore",
    "Notification",
    "TaskActivities",
    "TaskStore",
    "TaskUpdate",
]


@dataclass
class TaskUpdate:
    task_id: str
    state: str  # pending, executed, rejected, timed_out
    plan: dict[str, Any] = field(default_factory=dict)
    reason: str = ""


@dataclass
class Notification:
    task_id: str
    recipient: str
    message: str


@dataclass
class AuditEntry:
    task_id: str
    outcome: str
    decided_by: str
    revisions: int
    reason: str


class TaskStore(Protocol):
    async def set_state(self, update: TaskUpdate) -> None: ...
    async def execute(self, task_id: str, plan: dict[str, Any]) -> dict[str, Any]: ...
    async def notify(self, notification: Notification) -> None: ...
    async def audit(self, entry: AuditEntry) -> None: ...


@dataclass
class InProcessTaskStore:
    """Tasks in memory; what tests and demos inspect."""

    states: dict[str, TaskUpdate] = field(default_factory=dict)
    executed: dict[str, dict[str, Any]] = field(default_factory=dict)
    notifications: list[Notification] = field(default_factory=list)
    audit_log: list[AuditEntry] = field(default_factory=list)

    async def set_state(self, update: TaskUpdate) -> None:
        self.states[update.task_id] = update

    async def execute(self, task_id: str, plan: dict[str, Any]) -> dict[str, Any]:
        # idempotent: a retried execution returns the first result
        return self.executed.setdefault(task_id, {"task_id": task_id, "ran": plan.get("steps", [])})

    async def notify(self, notification: Notification) -> None:
        self.notifications.append(notification)

    async def audit(self, entry: AuditEntry) -> None:
        if not any(e.task_id == entry.task_id for e in self.audit_log):
            self.audit_log.append(entry)


class TaskActivities:
    def __init__(self, store: TaskStore) -> None:
        self.store = store

    @activity.defn(name="approval.record_state")
    async def record_state(self, update: TaskUpdate) -> None:
        await self.store.set_state(update)

    @activity.defn(name="approval.execute_task")
    async def execute_task(self, update: TaskUpdate) -> dict[str, Any]:
        result = await self.store.execute(update.task_id, update.plan)
        await self.store.set_state(TaskUpdate(update.task_id, "executed", update.plan))
        return result

    @activity.defn(name="approval.notify")
    async def notify(self, notification: Notification) -> None:
        await self.store.notify(notification)

    @activity.defn(name="approval.write_audit")
    async def write_audit(self, entry: AuditEntry) -> None:
        await self.store.audit(entry)
