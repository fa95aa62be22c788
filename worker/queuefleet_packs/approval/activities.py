"""Approval activities over the pack's PostgreSQL: task states, decisions, the audit log.

Every write is idempotent per workflow run (a retried activity writes nothing twice):
decisions are keyed by their sequence number in the run, executions by task, notifications
and audit entries by task and run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from psycopg.types.json import Jsonb
from temporalio import activity

from ..postgres import PackDatabase, calling_run

__all__ = [
    "SCHEMA",
    "AuditEntry",
    "DecisionRecord",
    "Notification",
    "PostgresTaskStore",
    "TaskActivities",
    "TaskUpdate",
]

SCHEMA: Final = (
    """CREATE TABLE IF NOT EXISTS approval_tasks (
        task_id      text PRIMARY KEY,
        state        text NOT NULL,
        plan         jsonb NOT NULL,
        reason       text NOT NULL DEFAULT '',
        workflow_id  text NOT NULL,
        run_id       text NOT NULL,
        updated_at   timestamptz NOT NULL DEFAULT now()
    )""",
    """CREATE TABLE IF NOT EXISTS approval_decisions (
        task_id     text NOT NULL,
        run_id      text NOT NULL,
        seq         integer NOT NULL,
        action      text NOT NULL,
        decided_by  text NOT NULL,
        comment     text NOT NULL DEFAULT '',
        plan        jsonb,
        accepted    boolean NOT NULL,
        note        text NOT NULL DEFAULT '',
        recorded_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (task_id, run_id, seq)
    )""",
    """CREATE TABLE IF NOT EXISTS approval_executions (
        task_id     text PRIMARY KEY,
        result      jsonb NOT NULL,
        executed_at timestamptz NOT NULL DEFAULT now()
    )""",
    """CREATE TABLE IF NOT EXISTS approval_notifications (
        task_id   text NOT NULL,
        run_id    text NOT NULL,
        recipient text NOT NULL,
        message   text NOT NULL,
        sent_at   timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (task_id, run_id, recipient)
    )""",
    """CREATE TABLE IF NOT EXISTS approval_audit (
        task_id    text NOT NULL,
        run_id     text NOT NULL,
        outcome    text NOT NULL,
        decided_by text NOT NULL,
        revisions  integer NOT NULL,
        reason     text NOT NULL,
        written_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (task_id, run_id)
    )""",
)


@dataclass
class TaskUpdate:
    task_id: str
    state: str  # pending, executed, rejected, timed_out
    plan: dict[str, Any] = field(default_factory=dict)
    reason: str = ""


@dataclass
class DecisionRecord:
    task_id: str
    seq: int  # the decision's position among the run's received decisions
    action: str
    by: str
    accepted: bool  # false: refused (not an approver, unknown action, modify without plan)
    comment: str = ""
    plan: dict[str, Any] | None = None
    note: str = ""  # why a decision was refused


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


class PostgresTaskStore:
    """Tasks, decisions and the audit log in PostgreSQL, keyed by task and workflow run."""

    def __init__(self, database: PackDatabase) -> None:
        self.database = database

    async def set_state(self, update: TaskUpdate, workflow_id: str, run_id: str) -> None:
        async with self.database.transaction() as conn:
            await conn.execute(
                "INSERT INTO approval_tasks (task_id, state, plan, reason, workflow_id, run_id) "
                "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (task_id) DO UPDATE SET "
                "state = EXCLUDED.state, plan = EXCLUDED.plan, reason = EXCLUDED.reason, "
                "workflow_id = EXCLUDED.workflow_id, run_id = EXCLUDED.run_id, updated_at = now()",
                [update.task_id, update.state, Jsonb(update.plan), update.reason, workflow_id,
                 run_id],
            )  # fmt: skip

    async def record_decision(self, record: DecisionRecord, run_id: str) -> None:
        async with self.database.transaction() as conn:
            await conn.execute(
                "INSERT INTO approval_decisions (task_id, run_id, seq, action, decided_by, "
                "comment, plan, accepted, note) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT DO NOTHING",
                [record.task_id, run_id, record.seq, record.action, record.by, record.comment,
                 None if record.plan is None else Jsonb(record.plan), record.accepted,
                 record.note],
            )  # fmt: skip

    async def execute(self, task_id: str, plan: dict[str, Any]) -> dict[str, Any]:
        result = {"task_id": task_id, "ran": plan.get("steps", [])}
        async with self.database.transaction() as conn:
            # idempotent: a retried execution returns the first result
            await conn.execute(
                "INSERT INTO approval_executions (task_id, result) VALUES (%s, %s) "
                "ON CONFLICT (task_id) DO NOTHING",
                [task_id, Jsonb(result)],
            )
            cursor = await conn.execute(
                "SELECT result FROM approval_executions WHERE task_id = %s", [task_id]
            )
            row = await cursor.fetchone()
        assert row is not None
        stored: dict[str, Any] = row[0]
        return stored

    async def notify(self, notification: Notification, run_id: str) -> None:
        async with self.database.transaction() as conn:
            await conn.execute(
                "INSERT INTO approval_notifications (task_id, run_id, recipient, message) "
                "VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
                [notification.task_id, run_id, notification.recipient, notification.message],
            )

    async def audit(self, entry: AuditEntry, run_id: str) -> None:
        async with self.database.transaction() as conn:
            await conn.execute(
                "INSERT INTO approval_audit (task_id, run_id, outcome, decided_by, revisions, "
                "reason) VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                [entry.task_id, run_id, entry.outcome, entry.decided_by, entry.revisions,
                 entry.reason],
            )  # fmt: skip


class TaskActivities:
    def __init__(self, store: PostgresTaskStore) -> None:
        self.store = store

    @activity.defn(name="approval.record_state")
    async def record_state(self, update: TaskUpdate) -> None:
        await self.store.set_state(update, *calling_run())

    @activity.defn(name="approval.record_decision")
    async def record_decision(self, record: DecisionRecord) -> None:
        await self.store.record_decision(record, calling_run()[1])

    @activity.defn(name="approval.execute_task")
    async def execute_task(self, update: TaskUpdate) -> dict[str, Any]:
        result = await self.store.execute(update.task_id, update.plan)
        await self.store.set_state(
            TaskUpdate(update.task_id, "executed", update.plan), *calling_run()
        )
        return result

    @activity.defn(name="approval.notify")
    async def notify(self, notification: Notification) -> None:
        await self.store.notify(notification, calling_run()[1])

    @activity.defn(name="approval.write_audit")
    async def write_audit(self, entry: AuditEntry) -> None:
        await self.store.audit(entry, calling_run()[1])
