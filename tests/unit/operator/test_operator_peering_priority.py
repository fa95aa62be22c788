"""Replicas of one Deployment must not tie on peering priority: kopf pauses all tied peers."""

from __future__ import annotations

from queuefleet_operator.command import _peering_priority


def test_explicit_priority_is_kept() -> None:
    assert _peering_priority(7) == 7
    assert _peering_priority(0) == 0


def test_replicas_draw_distinct_positive_priorities() -> None:
    drawn = {_peering_priority(None) for _ in range(50)}
    assert min(drawn) > 0
    assert len(drawn) >= 49  # one collision in 50 draws from a million is already unlikely
