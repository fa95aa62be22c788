"""kopf's watch of a CRD installed after the operator started (KEDA, the Prometheus Operator).

kopf reads a group's API discovery again only when one of the group's CRDs changes. The API
server publishes a new CRD in discovery a moment after it turns Established, and on a busy
server that moment can come after the CRD's last event: kopf then never watches the new
resource, and the operator never hears of, say, KEDA accepting a ScaledObject (a queue that
stayed Ready=False after KEDA was installed, in CI). So when an optional CRD turns
Established, `Rediscovery` reads that group's discovery itself until the resource is served,
then gives kopf the result exactly as kopf's own resource observer would.

That takes three kopf internals (kopf is pinned by the lock files, 1.45.2); the cluster test
`test_missing_keda_falls_back_then_recovers_when_installed` exercises this path.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Any

import kopf
from kopf._cogs.clients import scanning
from kopf._cogs.structs.references import Insights
from kopf._core.reactor import observation

__all__ = ["Insights", "Rediscovery"]

log = logging.getLogger("queuefleet.operator")

# How long a CRD may take to appear in discovery after turning Established.
DISCOVERY_DEADLINE_SECONDS = 120.0
_FIRST_RETRY_SECONDS = 0.5
_LONGEST_RETRY_SECONDS = 5.0


class Rediscovery:
    def __init__(self, *, insights: Insights, registry: kopf.OperatorRegistry) -> None:
        self._insights = insights
        self._registry = registry
        self._following: set[str] = set()  # CRD names being followed
        self.settings: kopf.OperatorSettings | None = None  # set at startup

    def watched(self, group: str, plural: str) -> bool:
        """Whether kopf serves (watches) the resource now."""
        return any(
            r.group == group and r.plural == plural for r in self._insights.watched_resources
        )

    async def follow(self, crd: Mapping[str, Any]) -> bool:
        """Until kopf watches what `crd` defines, or the deadline: whether it does."""
        spec = crd.get("spec") or {}
        group = str(spec.get("group", ""))
        plural = str((spec.get("names") or {}).get("plural", ""))
        name = str(crd.get("metadata", {}).get("name", ""))
        watched = self.watched(group, plural)
        if watched or self.settings is None or name in self._following:
            return watched
        self._following.add(name)
        try:
            return await self._follow(group, plural)
        finally:
            self._following.discard(name)

    async def _follow(self, group: str, plural: str) -> bool:
        assert self.settings is not None
        deadline = time.monotonic() + DISCOVERY_DEADLINE_SECONDS
        retry = _FIRST_RETRY_SECONDS
        while True:
            resources = await scanning.scan_resources(
                groups={group}, settings=self.settings, logger=log
            )
            if any(r.plural == plural for r in resources):
                break
            if time.monotonic() + retry > deadline:
                log.warning("%s.%s is not in API discovery after %.0f s", plural, group,
                            DISCOVERY_DEADLINE_SECONDS)  # fmt: skip
                return False
            await asyncio.sleep(retry)
            retry = min(retry * 2, _LONGEST_RETRY_SECONDS)
        if not self.watched(group, plural):
            log.info("%s.%s is served now; watching it", plural, group)
            async with self._insights.revised:
                observation.revise_resources(
                    resources=resources, insights=self._insights, registry=self._registry,
                    group=group,
                )  # fmt: skip
                await self._insights.backbone.fill(resources=resources)
                self._insights.revised.notify_all()
        return self.watched(group, plural)
