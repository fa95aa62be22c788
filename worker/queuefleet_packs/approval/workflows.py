"""`TaskExecutionWorkflow`: pending → `approval` → execute / reject / revise → notify → audit.

The `approval` signal carries an action: `approve` runs the plan, `reject` records why,
`modify` replaces the plan and waits for a decision on the new one. When the request names
`approvers`, only they decide; anyone else's decision is refused. Every decision received,
accepted or refused (with why), is written to the pack's database before it takes effect,
next to the task's state and the final audit entry. Waiting ends after a configurable
timeout (24 hours by default) with the reason saying so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Final

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from .activities import AuditEntry, DecisionRecord, Notification, TaskActivities, TaskUpdate

__all__ = ["ApprovalSignal", "TaskExecutionWorkflow", "TaskRequest", "TaskResult"]

ACTIONS: Final = ("approve", "reject", "modify")
STEP_TIMEOUT: Final = timedelta(minutes=5)


@dataclass
class TaskRequest:
    task_id: str
    requested_by: str
    plan: dict[str, Any] = field(default_factory=dict)
    approval_timeout_seconds: float = 24 * 3600
    max_revisions: int = 10  # `modify` decisions accepted before the task is rejected
    approvers: list[str] = field(default_factory=list)  # who may decide; empty: anyone


@dataclass
class ApprovalSignal:
    action: str  # approve, reject or modify
    by: str
    comment: str = ""
    plan: dict[str, Any] | None = None  # the new plan, for `modify`


@dataclass
class TaskResult:
    task_id: str
    outcome: str  # executed, rejected or timed_out
    reason: str
    plan: dict[str, Any]
    revisions: int
    decided_by: str = ""
    result: dict[str, Any] | None = None


@workflow.defn(name="TaskExecutionWorkflow")
class TaskExecutionWorkflow:
    def __init__(self) -> None:
        self._decisions: list[ApprovalSignal] = []
        self._state = "starting"
        self._plan: dict[str, Any] = {}
        self._revisions = 0
        self._received = 0  # decisions received so far, refused ones included

    @workflow.signal
    def approval(self, decision: ApprovalSignal) -> None:
        # every decision is queued, refused ones too: the run records why it refused them
        self._decisions.append(decision)

    @workflow.query
    def status(self) -> dict[str, Any]:
        return {"state": self._state, "plan": self._plan, "revisions": self._revisions}

    @workflow.run
    async def run(self, request: TaskRequest) -> TaskResult:
        self._plan = dict(request.plan)
        acts = TaskActivities
        self._state = "pending"
        await workflow.execute_activity_method(
            acts.record_state,
            TaskUpdate(request.task_id, "pending", self._plan),
            start_to_close_timeout=STEP_TIMEOUT,
        )
        result = await self._decide(request)
        self._state = result.outcome
        if result.outcome == "executed":
            result.result = await workflow.execute_activity_method(
                acts.execute_task,
                TaskUpdate(request.task_id, "executed", self._plan),
                start_to_close_timeout=timedelta(hours=1),
            )
        else:
            await workflow.execute_activity_method(
                acts.record_state,
                TaskUpdate(request.task_id, result.outcome, self._plan, result.reason),
                start_to_close_timeout=STEP_TIMEOUT,
            )
        await workflow.execute_activity_method(
            acts.notify,
            Notification(
                request.task_id,
                request.requested_by,
                f"task {request.task_id} {result.outcome}: {result.reason}",
            ),
            start_to_close_timeout=STEP_TIMEOUT,
        )
        await workflow.execute_activity_method(
            acts.write_audit,
            AuditEntry(
                request.task_id, result.outcome, result.decided_by, result.revisions, result.reason
            ),
            start_to_close_timeout=STEP_TIMEOUT,
        )
        return result

    async def _decide(self, request: TaskRequest) -> TaskResult:
        timeout = timedelta(seconds=request.approval_timeout_seconds)
        while True:
            self._state = "awaiting_approval"
            try:
                await workflow.wait_condition(lambda: bool(self._decisions), timeout=timeout)
            except TimeoutError:
                return self._result(request, "timed_out", f"no approval decision within {timeout}")
            decision = self._decisions.pop(0)
            refusal = _refusal(decision, request.approvers)
            self._received += 1
            await workflow.execute_activity_method(
                TaskActivities.record_decision,
                DecisionRecord(
                    request.task_id, self._received, decision.action, decision.by,
                    accepted=refusal is None, comment=decision.comment, plan=decision.plan,
                    note=refusal or "",
                ),
                start_to_close_timeout=STEP_TIMEOUT,
            )  # fmt: skip
            if refusal is not None:
                workflow.logger.warning("refused decision from %r: %s", decision.by, refusal)
                continue
            if decision.action == "approve":
                return self._result(
                    request, "executed", decision.comment or "approved", decision.by
                )
            if decision.action == "reject":
                return self._result(
                    request, "rejected", decision.comment or "rejected", decision.by
                )
            if self._revisions >= request.max_revisions:
                reason = f"more than {request.max_revisions} revisions requested"
                return self._result(request, "rejected", reason, decision.by)
            assert decision.plan is not None
            self._plan = dict(decision.plan)
            self._revisions += 1
            self._state = "revised"
            await workflow.execute_activity_method(
                TaskActivities.record_state,
                TaskUpdate(request.task_id, "pending", self._plan, f"revised by {decision.by}"),
                start_to_close_timeout=STEP_TIMEOUT,
            )

    def _result(self, request: TaskRequest, outcome: str, reason: str, by: str = "") -> TaskResult:
        return TaskResult(request.task_id, outcome, reason, dict(self._plan), self._revisions, by)


def _refusal(decision: ApprovalSignal, approvers: list[str]) -> str | None:
    """Why a decision cannot count, or None when it does."""
    if approvers and decision.by not in approvers:
        return f"{decision.by!r} is not an approver ({', '.join(approvers)})"
    if decision.action not in ACTIONS:
        return f"unknown action {decision.action!r} (expected {', '.join(ACTIONS)})"
    if decision.action == "modify" and not isinstance(decision.plan, dict):
        return "modify needs a plan"
    return None
