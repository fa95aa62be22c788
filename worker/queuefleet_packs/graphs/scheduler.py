"""Which nodes of a graph run next: the edge semantics, as a pure state machine.

An edge is open until its source node settles, then taken or dead:
- `start` edges are taken when the run begins;
- `sequence` and `parallel` edges are taken when their source completes;
- `true_branch` / `false_branch` are taken when their (condition or approval) source
  completes with that outcome;
- `always` edges are taken whenever their source ran, even if it failed and continued.

A node becomes ready once every inbound edge has settled and at least one was taken, so a
node with several inbound edges waits for all its live branches (convergence). When every
inbound edge is dead the node is skipped, and its outbound edges die in turn. Every list
this module returns is in declaration order, which keeps the workflow deterministic.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from .model import Graph

__all__ = ["Checkpoint", "GraphRun", "NodeOutcome"]

NodeStatus = Literal["pending", "running", "completed", "failed", "skipped"]
EdgeState = Literal["open", "taken", "dead"]
NodeOutcome = Literal["completed", "failed"]
SETTLED: Final = frozenset({"completed", "failed", "skipped"})
_NODE_STATUSES: Final = frozenset({"pending", "running", "completed", "failed", "skipped"})
_EDGE_STATES: Final = frozenset({"open", "taken", "dead"})


@dataclass
class Checkpoint:
    """What a run carries into its next history through Continue-As-New."""

    statuses: dict[str, str] = field(default_factory=dict)
    edges: dict[str, str] = field(default_factory=dict)  # edge index (as text) -> state
    results: dict[str, Any] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)  # nodes in the order they settled
    continued: int = 0  # how many times the run has continued as new


class GraphRun:
    def __init__(self, graph: Graph, checkpoint: Checkpoint | None = None) -> None:
        self.graph = graph
        self.status: dict[str, NodeStatus] = {node.name: "pending" for node in graph.nodes}
        self.edge: dict[int, EdgeState] = {edge.index: "open" for edge in graph.edges}
        if checkpoint is None:
            for edge in graph.edges:
                if edge.type == "start":
                    self.edge[edge.index] = "taken"
        else:
            for name, status in checkpoint.statuses.items():
                if name not in self.status or status not in _NODE_STATUSES:
                    raise ValueError(f"node {str(name)[:80]!r} with status {str(status)[:20]!r}")
                # a node running when the last history ended runs again in this one
                self.status[name] = "pending" if status == "running" else status  # type: ignore[assignment]
            for index, state in checkpoint.edges.items():
                if int(index) not in self.edge or state not in _EDGE_STATES:
                    raise ValueError(f"edge {str(index)[:20]!r} with state {str(state)[:20]!r}")
                self.edge[int(index)] = state  # type: ignore[assignment]

    def ready(self) -> list[str]:
        """Nodes that may start now (marked running), after skipping every dead node."""
        ready: list[str] = []
        changed = True
        while changed:
            changed = False
            for node in self.graph.nodes:
                if self.status[node.name] != "pending":
                    continue
                states = [self.edge[e.index] for e in self.graph.inbound[node.name]]
                if "open" in states:
                    continue
                if "taken" in states:
                    self.status[node.name] = "running"
                    ready.append(node.name)
                else:
                    self.status[node.name] = "skipped"
                    self._settle_outbound(node.name, ran=False, succeeded=False, branch=None)
                    changed = True
        return ready

    def finish(self, name: str, outcome: NodeOutcome, *, branch: bool | None = None) -> None:
        if self.status[name] != "running":
            raise RuntimeError(f"node {name!r} finished while {self.status[name]}")
        self.status[name] = outcome
        self._settle_outbound(name, ran=True, succeeded=outcome == "completed", branch=branch)

    def release(self, name: str) -> None:
        """Put a node that was marked running but never started back to pending."""
        if self.status[name] == "running":
            self.status[name] = "pending"

    @property
    def done(self) -> bool:
        return all(status in SETTLED for status in self.status.values())

    @property
    def skipped(self) -> list[str]:
        return [n.name for n in self.graph.nodes if self.status[n.name] == "skipped"]

    def checkpoint(
        self, *, results: Mapping[str, Any], order: list[str], continued: int
    ) -> Checkpoint:
        return Checkpoint(
            statuses=dict(self.status),
            edges={str(index): state for index, state in self.edge.items()},
            results=dict(results),
            order=list(order),
            continued=continued,
        )

    def _settle_outbound(
        self, name: str, *, ran: bool, succeeded: bool, branch: bool | None
    ) -> None:
        for edge in self.graph.outbound[name]:
            if edge.type == "always":
                taken = ran
            elif edge.type == "true_branch":
                taken = succeeded and branch is True
            elif edge.type == "false_branch":
                taken = succeeded and branch is False
            else:
                taken = succeeded
            self.edge[edge.index] = "taken" if taken else "dead"
