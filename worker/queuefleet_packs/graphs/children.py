"""Which child workflows a graph may start, and how many in one run tree.

Two bounds keep fan-out finite whatever a graph does, including running `GraphWorkflow` on
a graph taken from its own input:
- the run tree (a root run and every child run below it) has a budget of child workflows
  and a depth. Each run knows its share (`RunTree`, set by its parent, never by the
  graph) and splits what is left among its own child nodes before any starts: every child
  node gets what its inline graphs need plus an equal part of the rest, so the tree as a
  whole never exceeds the root's budget, with no coordination between runs;
- the worker's allow-list (`ChildPolicy`, from QUEUEFLEET_GRAPHS_CHILD_WORKFLOWS) names
  the workflow types and task queues child nodes may start; by default only GraphWorkflow
  on the worker's own task queue.

Workflow code reads the policy of its task queue with `policy_for`; the registrar installs
it when the worker is assembled (this module is passed through the sandbox, so both see
the same table).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from .model import Graph

__all__ = [
    "DEFAULT_CHILD_WORKFLOWS",
    "GRAPH_WORKFLOW",
    "ChildPolicy",
    "RunTree",
    "allocations",
    "install",
    "policy_for",
    "run_limits",
    "tree_problems",
]

GRAPH_WORKFLOW: Final = "GraphWorkflow"
DEFAULT_CHILD_WORKFLOWS: Final = GRAPH_WORKFLOW
_ENTRY: Final = re.compile(r"\A([A-Za-z_][A-Za-z0-9_.-]{0,199})(?:@([^\s,@]{1,200}))?\Z")


@dataclass
class RunTree:
    """A run's place in its tree, carried in GraphRunInput from parent to child."""

    depth: int = 0  # 0 for the root run
    budget: int | None = None  # child workflows this run and its descendants may start
    max_depth: int | None = None  # deepest level a run of this tree may have


@dataclass(frozen=True)
class ChildPolicy:
    """(workflow type, task queue) pairs child nodes may start; a None queue is the
    worker's own task queue."""

    allowed: frozenset[tuple[str, str | None]]

    @classmethod
    def parse(cls, text: str) -> ChildPolicy:
        """`Type` or `Type@task_queue` entries, comma-separated."""
        allowed: set[tuple[str, str | None]] = set()
        for entry in (e.strip() for e in text.split(",")):
            if not entry:
                continue
            match = _ENTRY.match(entry)
            if not match:
                raise ValueError(
                    f"child workflow entry {entry[:80]!r} is not 'WorkflowType' or "
                    "'WorkflowType@task_queue'"
                )
            allowed.add((match.group(1), match.group(2)))
        return cls(frozenset(allowed))

    def allows(self, workflow_type: str, task_queue: str, own_task_queue: str) -> bool:
        if (workflow_type, task_queue) in self.allowed:
            return True
        return task_queue == own_task_queue and (workflow_type, None) in self.allowed

    def describe(self) -> str:
        return ", ".join(sorted(t if q is None else f"{t}@{q}" for t, q in self.allowed))


DEFAULT_POLICY: Final = ChildPolicy.parse(DEFAULT_CHILD_WORKFLOWS)
_POLICIES: dict[str, ChildPolicy] = {}


def install(task_queue: str, policy: ChildPolicy) -> None:
    """Set the policy of a task queue (called by the registrar, outside workflow code)."""
    _POLICIES[task_queue] = policy


def policy_for(task_queue: str) -> ChildPolicy:
    return _POLICIES.get(task_queue, DEFAULT_POLICY)


def run_limits(graph: Graph, tree: RunTree) -> tuple[int, int]:
    """(budget, max_depth) of a run: its graph's options, lowered by its parent's share."""
    budget = graph.options.max_children
    if tree.budget is not None:
        budget = min(budget, tree.budget)
    max_depth = graph.options.max_child_depth
    if tree.max_depth is not None:
        max_depth = min(max_depth, tree.max_depth)
    return max(budget, 0), max_depth


def tree_problems(graph: Graph, tree: RunTree) -> list[str]:
    """Why this run may not start its child nodes, naming the node; empty when it may."""
    budget, max_depth = run_limits(graph, tree)
    problems: list[str] = []
    if not isinstance(tree.depth, int) or tree.depth < 0:
        return [f"graph: the run tree's depth must be a whole number, not {tree.depth!r}"]
    for name, levels in graph.child_depth.items():
        if tree.depth + levels > max_depth:
            problems.append(
                f"node {name!r}: child workflows would run {tree.depth + levels} levels deep, "
                f"more than max_child_depth allows ({max_depth})"
            )
    needed = sum(graph.child_needs.values())
    if needed > budget:
        biggest = max(graph.child_needs, key=lambda n: graph.child_needs[n])
        problems.append(
            f"node {biggest!r}: the graph starts {needed} child workflows in all (counting "
            f"nested graphs), more than max_children allows here ({budget})"
        )
    return problems


def allocations(graph: Graph, tree: RunTree) -> dict[str, int]:
    """Child workflows each child node may start (itself included), in declaration order."""
    budget, _ = run_limits(graph, tree)
    needs = graph.child_needs
    if not needs:
        return {}
    share = max(budget - sum(needs.values()), 0) // len(needs)
    return {name: need + share for name, need in needs.items()}
