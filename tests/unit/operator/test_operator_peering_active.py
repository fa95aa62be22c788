"""Which replica is active: kopf's peering rule, applied to the peering object's status."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from queuefleet_operator.peering import PeeringMonitor, is_active

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def peer(priority: int, *, seen_ago: float = 1, lifetime: int = 20) -> dict[str, Any]:
    lastseen = NOW - timedelta(seconds=seen_ago)
    return {"priority": priority, "lastseen": lastseen.isoformat(), "lifetime": lifetime}


@pytest.mark.parametrize(
    ("others", "active"),
    [
        pytest.param({}, True, id="alone"),
        pytest.param({"b": peer(5)}, True, id="highest"),
        pytest.param({"b": peer(20)}, False, id="outranked"),
        pytest.param({"b": peer(10)}, False, id="same-priority-pauses-both"),
        pytest.param({"b": peer(20, seen_ago=21)}, True, id="outranked-by-a-dead-peer"),
        pytest.param({"b": peer(20, lifetime=0)}, True, id="peer-said-goodbye"),
        pytest.param({"b": {"priority": "x"}}, True, id="unparseable-peer"),
    ],
)
def test_active_by_kopfs_rule(others: dict[str, Any], active: bool) -> None:
    peers = {"me": peer(10), **others}
    assert is_active(peers, identity="me", priority=10, now=NOW) is active


class Switch:
    def __init__(self) -> None:
        self.states: list[str] = []

    def pause(self) -> None:
        self.states.append("paused")

    def resume(self) -> None:
        self.states.append("active")


async def test_monitor_pauses_when_any_namespace_is_outranked_and_resumes_after() -> None:
    peerings = [{"me": peer(10)}, {"me": peer(10), "b": peer(20)}]

    async def read() -> list[dict[str, Any]]:
        return peerings

    switch = Switch()
    monitor = PeeringMonitor(
        read_peers=read, identity="me", priority=10, switch=switch, clock=lambda: NOW
    )
    assert await monitor.check() is False
    peerings[1].pop("b")  # the other replica left (rolling update, or it died)
    assert await monitor.check() is True
    assert switch.states == ["paused", "active"]
