"""What a reconcile pass decides: the Plan and the events that go with it (plain values)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .observed import Applied

__all__ = ["ChildRef", "Event", "EventType", "Manifest", "Plan"]

Manifest = dict[str, Any]
EventType = Literal["Normal", "Warning"]


@dataclass(frozen=True, kw_only=True)
class ChildRef:
    kind: str
    name: str


@dataclass(frozen=True, kw_only=True)
class Event:
    type: EventType
    reason: str
    message: str


@dataclass(frozen=True, kw_only=True)
class Plan:
    """What one reconcile pass should do."""

    # Every child that should exist, with its config-hash annotation, by kind.
    desired: Mapping[str, Manifest] = field(default_factory=dict)
    # Fields the operator is letting go of, applied first under the hand-off field manager
    # so their values stay put until their new owner (KEDA's HPA) sets them.
    hand_over: tuple[Manifest, ...] = ()
    # The subset of `desired` that is missing or has drifted: to apply now.
    apply: tuple[Manifest, ...] = ()
    # Kinds in `apply` because someone else changed a field the operator sets.
    drifted: tuple[str, ...] = ()
    # Children found exactly as desired with no record of our apply (the operator started
    # since): their current state becomes the baseline for drift, with no apply.
    verified: Mapping[str, Applied] = field(default_factory=dict)
    # Children of this queue that should no longer exist.
    delete: tuple[ChildRef, ...] = ()
    # The complete status to write (the operator writes it only when it differs).
    status: Mapping[str, Any] = field(default_factory=dict)
    # Events for what the pass changes (children created, updated, repaired, deleted)...
    changes: tuple[Event, ...] = ()
    # ...and for conditions `status` moves (see genstatus.transition_events).
    transitions: tuple[Event, ...] = ()

    @property
    def events(self) -> tuple[Event, ...]:
        return self.changes + self.transitions

    @property
    def has_work(self) -> bool:
        """Whether executing it would write anything but the status."""
        return bool(self.hand_over or self.apply or self.delete)
