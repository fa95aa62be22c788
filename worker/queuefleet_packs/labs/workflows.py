"""`LabProvisionWorkflow`: confirm → lock → blueprint → provision → validate →
RequestHumanReview → finalize.

The run first confirms the lab request in the pack's database (the row gets this run's
workflow id and run id), and writes the review request and the final outcome there too.
A `cancel_lab` signal (or cancelling the workflow) stops the step in progress and runs the
compensations registered so far, newest first: tear the environment down, release the lock
(after a workflow cancellation, in a task shielded from it). A rejected or unanswered
review ends the same way, with a clear outcome.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from ..shield import shielded
    from .activities import (
        BlueprintInput,
        ConfirmInput,
        LabActivities,
        LockInput,
        ProvisionInput,
        StatusInput,
    )

__all__ = [
    "CancelRequest",
    "LabProvisionWorkflow",
    "LabRequest",
    "LabResult",
    "ReviewDecision",
    "lab_workflow_id",
]

SHORT: Final = timedelta(minutes=2)  # for quick bookkeeping steps

# What `percent_complete` reports when each phase starts.
PHASE_PERCENT: Final = {
    "starting": 0,
    "confirming": 2,
    "locking": 5,
    "generating_blueprint": 10,
    "provisioning": 20,
    "validating": 60,
    "requesting_review": 70,
    "awaiting_review": 75,
    "finalizing": 90,
    "compensating": 90,
    "completed": 100,
    "cancelled": 100,
    "rejected": 100,
    "review_timed_out": 100,
    "failed": 100,
}


def lab_workflow_id(lab_id: str) -> str:
    return f"lab-{lab_id}"


@dataclass
class LabRequest:
    lab_id: str
    requested_by: str
    severity: str = "medium"  # low, medium, high or critical: sizes the blueprint
    ttl_hours: int = 24
    review_timeout_seconds: float = 24 * 3600
    # Provisioning heartbeats at least this often; a silent worker is replaced after it.
    provision_heartbeat_seconds: float = 30.0
    # First wait between validation attempts (the backoff doubles it each time).
    validation_retry_seconds: float = 5.0


@dataclass
class ReviewDecision:
    approved: bool
    reviewer: str
    comment: str = ""


@dataclass
class CancelRequest:
    reason: str
    by: str = ""


@dataclass
class LabResult:
    lab_id: str
    outcome: str  # completed, cancelled, rejected or review_timed_out
    detail: str
    compensations: list[str]
    lab: dict[str, Any] | None = None


class _Stopped(Exception):
    def __init__(self, outcome: str, detail: str) -> None:
        super().__init__(detail)
        self.outcome = outcome
        self.detail = detail


@workflow.defn(name="LabProvisionWorkflow")
class LabProvisionWorkflow:
    def __init__(self) -> None:
        self._phase = "starting"
        self._review: ReviewDecision | None = None
        self._cancel: CancelRequest | None = None
        self._compensations: list[tuple[str, Callable[[], Awaitable[Any]]]] = []

    @workflow.query
    def current_phase(self) -> str:
        return self._phase

    @workflow.query
    def percent_complete(self) -> int:
        return PHASE_PERCENT.get(self._phase, 0)

    @workflow.signal
    def human_review(self, decision: ReviewDecision) -> None:
        if self._review is None:
            self._review = decision

    @workflow.signal
    def cancel_lab(self, request: CancelRequest) -> None:
        if self._cancel is None:
            self._cancel = request

    @workflow.run
    async def run(self, request: LabRequest) -> LabResult:
        lab, owner = request.lab_id, workflow.info().workflow_id
        acts = LabActivities
        try:
            self._phase = "confirming"
            await self._step(
                workflow.execute_activity_method(
                    acts.confirm_request,
                    ConfirmInput(lab, request.requested_by, request.severity, request.ttl_hours),
                    start_to_close_timeout=SHORT,
                )
            )
            self._phase = "locking"
            await self._step(
                workflow.execute_activity_method(
                    acts.lock_lab, LockInput(lab, owner), start_to_close_timeout=SHORT
                )
            )
            self._compensate(
                "release_lock",
                lambda: workflow.execute_activity_method(
                    acts.release_lock, LockInput(lab, owner), start_to_close_timeout=SHORT
                ),
            )
            self._phase = "generating_blueprint"
            blueprint = await self._step(
                workflow.execute_activity_method(
                    acts.generate_blueprint,
                    BlueprintInput(lab, request.severity, request.ttl_hours),
                    start_to_close_timeout=SHORT,
                )
            )
            self._phase = "provisioning"
            # registered first: a half-provisioned environment needs tearing down too
            self._compensate(
                "teardown_environment",
                lambda: workflow.execute_activity_method(
                    acts.teardown_environment, lab, start_to_close_timeout=SHORT
                ),
            )
            await self._step(
                workflow.execute_activity_method(
                    acts.provision_environment,
                    ProvisionInput(lab, blueprint),
                    start_to_close_timeout=timedelta(hours=2),
                    heartbeat_timeout=timedelta(seconds=request.provision_heartbeat_seconds),
                    retry_policy=RetryPolicy(
                        initial_interval=timedelta(seconds=1), maximum_attempts=10
                    ),
                )
            )
            self._phase = "validating"
            validation = await self._step(
                workflow.execute_activity_method(
                    acts.run_validation,
                    lab,
                    start_to_close_timeout=timedelta(minutes=10),
                    retry_policy=RetryPolicy(
                        initial_interval=timedelta(seconds=request.validation_retry_seconds),
                        backoff_coefficient=2.0,
                        maximum_interval=timedelta(minutes=5),
                        maximum_attempts=5,
                    ),
                )
            )
            await self._request_human_review(lab, request.review_timeout_seconds)
            self._phase = "finalizing"
            final = await self._step(
                workflow.execute_activity_method(
                    acts.finalize_lab, lab, start_to_close_timeout=SHORT
                )
            )
            # The environment stays; only the provisioning lock is given back.
            self._compensations = [c for c in self._compensations if c[0] != "teardown_environment"]
            done = await self._run_compensations()
            await self._finish(lab, "completed", "lab is ready")
            return LabResult(
                lab, "completed", "lab is ready", done, {**final, "validation": validation}
            )
        except _Stopped as stop:
            self._phase = "compensating"
            done = await self._run_compensations()
            await self._finish(lab, stop.outcome, stop.detail)
            return LabResult(lab, stop.outcome, stop.detail, done)
        except asyncio.CancelledError:
            # Cancelled from outside: compensate (shielded), then end as cancelled.
            self._phase = "compensating"
            await shielded(self._run_compensations())
            await shielded(self._finish(lab, "cancelled", "the workflow was cancelled"))
            raise
        except ActivityError as error:
            self._phase = "compensating"
            await self._run_compensations()
            cause = (
                error.cause.message
                if error.cause and hasattr(error.cause, "message")
                else str(error)
            )
            await self._finish(lab, "failed", cause)
            raise ApplicationError(f"lab {lab} failed: {cause}", non_retryable=True) from error

    async def _finish(self, lab: str, outcome: str, detail: str) -> None:
        """Write the outcome on the lab request's row, then report it."""
        reviewer = self._review.reviewer if self._review else ""
        await workflow.execute_activity_method(
            LabActivities.record_status,
            StatusInput(lab, outcome, detail, reviewer),
            start_to_close_timeout=SHORT,
        )
        self._phase = outcome

    async def _request_human_review(self, lab: str, timeout_seconds: float) -> None:
        """The RequestHumanReview step: mark the request as waiting, then wait for the signal."""
        self._phase = "requesting_review"
        await self._step(
            workflow.execute_activity_method(
                LabActivities.record_status,
                StatusInput(lab, "awaiting_review"),
                start_to_close_timeout=SHORT,
            )
        )
        self._phase = "awaiting_review"
        await self._await_review(timeout_seconds)

    def _compensate(self, name: str, action: Callable[[], Awaitable[Any]]) -> None:
        self._compensations.append((name, action))

    async def _run_compensations(self) -> list[str]:
        done: list[str] = []
        for name, action in reversed(self._compensations):
            await action()
            done.append(name)
        self._compensations.clear()
        return done

    async def _step(self, activity_call: Awaitable[Any]) -> Any:
        """Run one step, unless `cancel_lab` arrives first: then cancel the step and stop."""
        step = asyncio.ensure_future(activity_call)
        if self._cancel is not None:
            step.cancel()
            raise _Stopped(
                "cancelled", f"cancelled by {self._cancel.by or 'request'}: {self._cancel.reason}"
            )
        cancelled = asyncio.ensure_future(workflow.wait_condition(lambda: self._cancel is not None))
        await workflow.wait([step, cancelled], return_when=asyncio.FIRST_COMPLETED)
        if step.done():
            cancelled.cancel()
            return step.result()
        step.cancel()
        with contextlib.suppress(asyncio.CancelledError, ActivityError):
            await step  # the step stopped; compensation decides what remains
        assert self._cancel is not None
        raise _Stopped(
            "cancelled", f"cancelled by {self._cancel.by or 'request'}: {self._cancel.reason}"
        )

    async def _await_review(self, timeout_seconds: float) -> None:
        try:
            await workflow.wait_condition(
                lambda: self._review is not None or self._cancel is not None,
                timeout=timedelta(seconds=timeout_seconds),
            )
        except TimeoutError:
            raise _Stopped(
                "review_timed_out", f"no human review within {timedelta(seconds=timeout_seconds)}"
            ) from None
        if self._cancel is not None:
            raise _Stopped(
                "cancelled", f"cancelled by {self._cancel.by or 'request'}: {self._cancel.reason}"
            )
        assert self._review is not None
        if not self._review.approved:
            raise _Stopped(
                "rejected", f"rejected by {self._review.reviewer}: {self._review.comment}"
            )
