"""Lab activities: thin, idempotent calls through the injected `LabAdapter`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from .adapters import LabAdapter, LabLockedError

__all__ = ["BlueprintInput", "LabActivities", "LockInput", "ProvisionInput"]


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
    def __init__(self, adapter: LabAdapter) -> None:
        self.adapter = adapter

    @activity.defn(name="labs.lock_lab")
    async def lock_lab(self, request: LockInput) -> None:
        try:
            await self.adapter.acquire_lock(request.lab_id, request.owner)
        except LabLockedError as error:
            raise ApplicationError(str(error), type="LabLocked", non_retryable=True) from error

    @activity.defn(name="labs.release_lock")
    async def release_lock(self, request: LockInput) -> None:
        await self.adapter.release_lock(request.lab_id, request.owner)

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
