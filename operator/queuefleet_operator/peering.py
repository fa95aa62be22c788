"""Which replica is active: the same rule kopf's peering applies, read from the same object.

kopf pauses its watch streams when a live peer of higher or equal priority shares the
peering object, but tells handlers nothing; the runtime's own workers, resync loop and
writes would go on from a frozen cache. `PeeringMonitor` reads the peering object (each
watched namespace's KopfPeering, or the ClusterKopfPeering) every second and pauses or
resumes the runtime by kopf's rule, so both stop and start together (within a poll).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from .kube import KubeError

__all__ = ["PeeringMonitor", "Switch", "is_active"]

log = logging.getLogger("queuefleet.operator")
POLL_SECONDS = 1.0


class Switch(Protocol):
    def pause(self) -> None: ...
    def resume(self) -> None: ...


def is_active(peers: Mapping[str, Any], *, identity: str, priority: int, now: datetime) -> bool:
    """kopf's rule: pause while any other live peer's priority is at least ours."""
    for other, info in peers.items():
        if other == identity or not isinstance(info, Mapping):
            continue
        try:
            lastseen = datetime.fromisoformat(str(info.get("lastseen")))
            lifetime = timedelta(seconds=int(info.get("lifetime", 60)))
            other_priority = int(info.get("priority", 0))
        except (TypeError, ValueError):
            continue  # a peer kopf could not parse either is no peer
        if lastseen.tzinfo is None:
            lastseen = lastseen.replace(tzinfo=UTC)
        if lastseen + lifetime <= now:
            continue  # dead
        if other_priority >= priority:
            return False
    return True


class PeeringMonitor:
    def __init__(
        self,
        *,
        read_peers: Callable[[], Awaitable[list[Mapping[str, Any]]]],
        identity: str,
        priority: int,
        switch: Switch,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._read_peers = read_peers
        self._identity = identity
        self._priority = priority
        self._switch = switch
        self._clock = clock

    async def check(self) -> bool | None:
        """Read the peering objects once and pause or resume; None when they are unreadable."""
        try:
            statuses = await self._read_peers()
        except KubeError as error:
            log.warning("cannot read the peering object; keeping the current state: %s", error)
            return None
        now = self._clock()
        active = all(
            is_active(status, identity=self._identity, priority=self._priority, now=now)
            for status in statuses
        )
        (self._switch.resume if active else self._switch.pause)()
        return active

    async def run(self) -> None:
        while True:
            await self.check()
            await asyncio.sleep(POLL_SECONDS)
