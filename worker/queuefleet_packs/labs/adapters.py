"""How lab activities reach the systems that own labs: one interface, two implementations.

`InProcessLabAdapter` keeps state in memory (tests, demos) and can be told to fail, so
retries and heartbeat resumption can be exercised; `HttpLabAdapter` calls a lab service
at a configured base URL. Every operation is idempotent per lab id, because activities
may run more than once. Lab requests and the lock are not the lab service's business:
they live in the pack's database (`store.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = [
    "HttpLabAdapter",
    "InProcessLabAdapter",
    "LabAdapter",
    "LabServiceError",
]


class LabServiceError(Exception):
    """The lab service failed; the activity retries."""


class LabAdapter(Protocol):
    async def generate_blueprint(
        self, lab_id: str, severity: str, ttl_hours: int
    ) -> dict[str, Any]: ...
    async def provision_step(self, lab_id: str, step: int, total: int) -> None: ...
    async def validate(self, lab_id: str) -> dict[str, Any]: ...
    async def finalize(self, lab_id: str) -> dict[str, Any]: ...
    async def teardown(self, lab_id: str) -> None: ...


@dataclass
class InProcessLabAdapter:
    """Labs in memory. `calls` records every operation, in order, for tests and demos."""

    provisioned_steps: dict[str, set[int]] = field(default_factory=dict)
    finalized: set[str] = field(default_factory=set)
    torn_down: set[str] = field(default_factory=set)
    calls: list[tuple[str, str, Any]] = field(default_factory=list)
    # fault injection: step -> how many more times provisioning that step fails
    fail_provision_step: dict[int, int] = field(default_factory=dict)
    fail_validation_times: int = 0
    step_seconds: float = 0.0

    async def generate_blueprint(
        self, lab_id: str, severity: str, ttl_hours: int
    ) -> dict[str, Any]:
        self.calls.append(("generate_blueprint", lab_id, severity))
        size = {"low": 2, "medium": 4, "high": 8, "critical": 16}.get(severity, 4)
        return {
            "lab_id": lab_id,
            "machines": size,
            "ttl_hours": ttl_hours,
            "network": f"net-{lab_id}",
        }

    async def provision_step(self, lab_id: str, step: int, total: int) -> None:
        import asyncio

        self.calls.append(("provision_step", lab_id, step))
        if self.step_seconds:
            await asyncio.sleep(self.step_seconds)
        if self.fail_provision_step.get(step, 0) > 0:
            self.fail_provision_step[step] -= 1
            raise LabServiceError(f"provisioning step {step} of lab {lab_id} failed")
        self.provisioned_steps.setdefault(lab_id, set()).add(step)

    async def validate(self, lab_id: str) -> dict[str, Any]:
        self.calls.append(("validate", lab_id, None))
        if self.fail_validation_times > 0:
            self.fail_validation_times -= 1
            raise LabServiceError(f"validation of lab {lab_id} is not passing yet")
        return {"lab_id": lab_id, "checks": ["network", "machines", "access"], "passed": True}

    async def finalize(self, lab_id: str) -> dict[str, Any]:
        self.calls.append(("finalize", lab_id, None))
        self.finalized.add(lab_id)
        return {"lab_id": lab_id, "url": f"https://labs.example/{lab_id}"}

    async def teardown(self, lab_id: str) -> None:
        self.calls.append(("teardown", lab_id, None))
        self.provisioned_steps.pop(lab_id, None)
        self.torn_down.add(lab_id)

    def operations(self, name: str) -> list[Any]:
        return [argument for operation, _, argument in self.calls if operation == name]


@dataclass(frozen=True)
class HttpLabAdapter:
    """A lab service over HTTP: `POST {base_url}/labs/{lab_id}/{operation}` with a JSON body.

    2xx answers succeed (a JSON body is returned); anything else is a retryable service
    error.
    """

    base_url: str
    timeout_seconds: float = 30.0

    async def _post(self, lab_id: str, operation: str, body: dict[str, Any]) -> dict[str, Any]:
        import aiohttp

        url = f"{self.base_url.rstrip('/')}/labs/{lab_id}/{operation}"
        try:
            async with (
                aiohttp.ClientSession(
                    timeout=aiohttp.ClientTimeout(total=self.timeout_seconds)
                ) as session,
                session.post(url, json=body) as response,
            ):
                if response.status >= 300:
                    raise LabServiceError(f"POST {url} returned HTTP {response.status}")
                data = await response.json(content_type=None)
        except aiohttp.ClientError as error:
            raise LabServiceError(f"POST {url} failed: {error}") from error
        return data if isinstance(data, dict) else {"response": data}

    async def generate_blueprint(
        self, lab_id: str, severity: str, ttl_hours: int
    ) -> dict[str, Any]:
        return await self._post(lab_id, "blueprint", {"severity": severity, "ttl_hours": ttl_hours})

    async def provision_step(self, lab_id: str, step: int, total: int) -> None:
        await self._post(lab_id, "provision", {"step": step, "total": total})

    async def validate(self, lab_id: str) -> dict[str, Any]:
        return await self._post(lab_id, "validate", {})

    async def finalize(self, lab_id: str) -> dict[str, Any]:
        return await self._post(lab_id, "finalize", {})

    async def teardown(self, lab_id: str) -> None:
        await self._post(lab_id, "teardown", {})
