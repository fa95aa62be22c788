"""Lab activities: thin, idempotent calls to the lab service (`LabAdapter`) and the pack's
database (`LabStore`: the request row and the lock)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from ..postgres import calling_run
from .adapters import LabAdapter
from .store import LabLockedError, LabStore, RequestRow

__all__ = [
    "BlueprintInput",
    "ConfirmInput",
    "LabActivities",
    "LockInput",
    "ProvisionInput",
    "StatusInput",
]


@dataclass
class ConfirmInput:
    lab_id: str
    requested_by: str
    severity: str
    ttl_hours: int


@dataclass
class StatusInput:
    lab_id: str
    status: str  # a phase, or the outcome once the run ends
    detail: str = ""
    reviewer: str = ""


@dataclass
class LockInput:
    lab_id: str
    owner: str  # the workflow id, so a retried or replayed lock is the same owner


@dataclass
class BlueprintInput:
    lab_id: str
    severity: str
    ttl_hours: int


@dataclass
class ProvisionInput:
    lab_id: str
    blueprint: dict[str, Any]


class LabActivities:
    def __init__(self, adapter: LabAdapter, store: LabStore) -> None:
        self.adapter = adapter
        self.store = store

    @activity.defn(name="labs.confirm_request")
    async def confirm_request(self, request: ConfirmInput) -> None:
        """Write the run's workflow id and run id on the lab request's row."""
        row = RequestRow(request.lab_id, request.requested_by, request.severity, request.ttl_hours)
        await self.store.confirm(row, *calling_run())

    @activity.defn(name="labs.record_status")
    async def record_status(self, update: StatusInput) -> None:
        _, run_id = calling_run()
        await self.store.set_status(
            update.lab_id, run_id, update.status, update.detail, update.reviewer
        )

    @activity.defn(name="labs.lock_lab")
    async def lock_lab(self, request: LockInput) -> None:
        try:
            await self.store.acquire_lock(request.lab_id, request.owner)
        except LabLockedError as error:
            raise ApplicationError(str(error), type="LabLocked", non_retryable=True) from error

    @activity.defn(name="labs.release_lock")
    async def release_lock(self, request: LockInput) -> None:
        await self.store.release_lock(request.lab_id, request.owner)

    @activity.defn(name="labs.generate_blueprint")
    async def generate_blueprint(self, request: BlueprintInput) -> dict[str, Any]:
        return await self.adapter.generate_blueprint(
            request.lab_id, request.severity, request.ttl_hours
        )

    @activity.defn(name="labs.provision_environment")
    async def provision_environment(self, request: ProvisionInput) -> int:
        """Provision machine by machine, heartbeating the number done; a retry resumes there."""
        total = int(request.blueprint.get("machines", 1))
        details = activity.info().heartbeat_details
        done = int(details[0]) if details else 0
        if done:
            activity.logger.info("resuming provisioning of lab %s at step %d", request.lab_id, done)
        for step in range(done, total):
            await self.adapter.provision_step(request.lab_id, step, total)
            activity.heartbeat(step + 1)
        return total

    @activity.defn(name="labs.run_validation")
    async def run_validation(self, lab_id: str) -> dict[str, Any]:
        return await self.adapter.validate(lab_id)

    @activity.defn(name="labs.finalize_lab")
    async def finalize_lab(self, lab_id: str) -> dict[str, Any]:
        return await self.adapter.finalize(lab_id)

    @activity.defn(name="labs.teardown_environment")
    async def teardown_environment(self, lab_id: str) -> None:
        await self.adapter.teardown(lab_id)
