"""Liveness and readiness of one worker process.

`/healthz` answers while the event loop answers: the handler runs on the worker's loop, so
a stuck loop fails the probe. `/readyz` is true while the worker is polling, not draining,
and the Temporal frontend answers a health check; the check runs on demand (at most once
per `_CHECK_TTL_SECONDS`), so an unprobed worker does no extra work.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TYPE_CHECKING

from . import contract
from .httpserver import Response, Route

if TYPE_CHECKING:
    from temporalio.client import Client
    from temporalio.worker import Worker

__all__ = ["Health"]

_CHECK_TTL_SECONDS = 1.0
_CHECK_TIMEOUT = timedelta(seconds=2)


class Health:
    """What the probes report; the runtime updates it as the worker starts and drains."""

    def __init__(self, *, now: Callable[[], float] = time.monotonic) -> None:
        self.client: Client | None = None
        self.worker: Worker | None = None
        self.draining = False
        self._now = now
        self._checked_at = float("-inf")
        self._server_ok = False

    def routes(self) -> dict[str, Route]:
        return {contract.HEALTH_PATH: self._healthz, contract.READY_PATH: self._readyz}

    async def ready(self) -> tuple[bool, str]:
        if self.draining:
            return False, "draining"
        if self.client is None:
            return False, "connecting to Temporal"
        if self.worker is None or not self.worker.is_running:
            return False, "worker not polling"
        if not await self._server_answers(self.client.service_client.check_health):
            return False, "Temporal server unreachable"
        return True, "polling"

    async def _server_answers(self, check: Callable[..., Awaitable[bool]]) -> bool:
        if self._now() - self._checked_at >= _CHECK_TTL_SECONDS:
            try:
                self._server_ok = bool(await check(timeout=_CHECK_TIMEOUT))
            except Exception:  # any RPC failure means "not reachable" to a probe
                self._server_ok = False
            self._checked_at = self._now()
        return self._server_ok

    async def _healthz(self) -> Response:
        return Response(200, b"ok\n")

    async def _readyz(self) -> Response:
        ok, reason = await self.ready()
        return Response(200 if ok else 503, f"{reason}\n".encode())
