"""The graph format as typed values: nodes, edges and run options.

A graph arrives as JSON (see graph.schema.json next to this file); `validator.parse_graph`
turns it into a `Graph` or rejects it. Everything here is plain data, safe to use inside
workflow code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

__all__ = [
    "BRANCHING_NODE_TYPES",
    "EDGE_TYPES",
    "NODE_TYPES",
    "Edge",
    "Graph",
    "GraphError",
    "GraphOptions",
    "Node",
]

NODE_TYPES: Final = (
    "http", "webhook", "transform", "condition", "delay", "approval", "child",
    "api_call", "database", "ai_agent", "callback",
)  # fmt: skip
# The seed designs' names that mean an existing type (same fields, same behaviour).
NODE_TYPE_ALIASES: Final = {"api_call": "http"}
EDGE_TYPES: Final = ("start", "sequence", "true_branch", "false_branch", "always", "parallel")
# Nodes whose outcome is true or false, so `true_branch`/`false_branch` may leave them.
BRANCHING_NODE_TYPES: Final = ("condition", "approval")
# Nodes that run as activities (the rest run inside the workflow or as child workflows).
ACTIVITY_NODE_TYPES: Final = ("http", "webhook", "api_call", "database", "ai_agent", "callback")
# Names templates already give a meaning to (function names are reserved by the validator).
RESERVED_NAMES: Final = frozenset({"input", "true", "false", "null"})

MAX_NODES: Final = 1000
MAX_EDGES: Final = 5000
# Hard caps on the options of the same names.
MAX_CHILDREN: Final = 1000
MAX_CHILD_DEPTH: Final = 10


class GraphError(ValueError):
    """A graph was rejected; `problems` lists each finding, naming the node or edge."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


@dataclass(frozen=True, kw_only=True)
class GraphOptions:
    """Limits that keep one graph run inside Temporal's history and payload limits."""

    # Continue-As-New once the run's history passes this many events.
    max_history_events: int = 10_000
    # A node result larger than this (JSON bytes) is replaced by a truncated summary.
    max_result_bytes: int = 16 * 1024
    # Nodes running at once; more ready nodes wait their turn in declaration order.
    max_concurrent_nodes: int = 100
    # Child workflows the whole run tree may start, and how deep it may nest (a child's
    # own options can only lower what its parent left it).
    max_children: int = 100
    max_child_depth: int = 3


@dataclass(frozen=True, kw_only=True)
class Node:
    name: str
    type: str
    spec: Mapping[str, Any]  # the node's JSON object as given
    position: int  # declaration order, the tie-breaker everywhere

    @property
    def on_error(self) -> str:
        return str(self.spec.get("on_error", "fail"))


@dataclass(frozen=True, kw_only=True)
class Edge:
    index: int
    type: str
    source: str | None  # None for `start` edges
    target: str

    def describe(self) -> str:
        return f"edge {self.index} ({self.source or 'start'} -> {self.target})"


@dataclass(frozen=True, kw_only=True)
class Graph:
    name: str
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]
    options: GraphOptions = field(default_factory=GraphOptions)
    # Derived once by the validator; every list is in declaration order.
    inbound: Mapping[str, tuple[Edge, ...]] = field(default_factory=dict)
    outbound: Mapping[str, tuple[Edge, ...]] = field(default_factory=dict)
    ancestors: Mapping[str, frozenset[str]] = field(default_factory=dict)
    by_name: Mapping[str, Node] = field(default_factory=dict)
    # Child node -> child workflows it starts, itself included (inline graphs counted
    # through), and -> levels of child workflows below this run it leads to.
    child_needs: Mapping[str, int] = field(default_factory=dict)
    child_depth: Mapping[str, int] = field(default_factory=dict)

    def node(self, name: str) -> Node:
        return self.by_name[name]
