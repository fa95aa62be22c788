"""Edge semantics as a pure state machine: convergence, skipping, branches, always edges."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from queuefleet_packs.graphs.scheduler import GraphRun
from queuefleet_packs.graphs.validator import parse_graph


def build(nodes: list[tuple[str, str]], edges: list[tuple[str, str | None, str]]) -> GraphRun:
    specs = {
        "transform": {"output": 1},
        "condition": {"expression": "true"},
        "approval": {},
    }
    raw = {
        "nodes": [{"name": n, "type": kind, **specs[kind]} for n, kind in nodes],
        "edges": [
            {"type": kind, "to": target, **({"from": source} if source else {})}
            for kind, source, target in edges
        ],
    }
    return GraphRun(parse_graph(raw))


def drive(
    run: GraphRun, branches: dict[str, bool], failures: frozenset[str] = frozenset()
) -> list[str]:
    """Complete ready nodes one by one in declaration order; return the order they ran."""
    ran: list[str] = []
    pending = run.ready()
    while pending:
        name = pending.pop(0)
        ran.append(name)
        run.finish(name, "failed" if name in failures else "completed", branch=branches.get(name))
        pending.extend(run.ready())
    assert run.done
    return ran


def test_condition_takes_one_branch_and_convergence_runs_once() -> None:
    run = build(
        [("check", "condition"), ("yes", "transform"), ("no", "transform"), ("join", "transform")],
        [("start", None, "check"), ("true_branch", "check", "yes"), ("false_branch", "check", "no"),
         ("sequence", "yes", "join"), ("sequence", "no", "join")],
    )  # fmt: skip
    assert drive(run, {"check": False}) == ["check", "no", "join"]
    assert run.skipped == ["yes"]


def test_node_whose_inbound_branches_all_died_is_skipped_and_its_successors_too() -> None:
    run = build(
        [("check", "condition"), ("a", "transform"), ("b", "transform"), ("after", "transform")],
        [
            ("start", None, "check"),
            ("true_branch", "check", "a"),
            ("sequence", "a", "b"),
            ("sequence", "b", "after"),
        ],
    )
    assert drive(run, {"check": False}) == ["check"]
    assert run.skipped == ["a", "b", "after"]


def test_join_waits_for_every_live_parallel_branch() -> None:
    run = build(
        [("fan", "transform"), ("a", "transform"), ("b", "transform"), ("join", "transform")],
        [("start", None, "fan"), ("parallel", "fan", "a"), ("parallel", "fan", "b"),
         ("sequence", "a", "join"), ("sequence", "b", "join")],
    )  # fmt: skip
    assert run.ready() == ["fan"]
    run.finish("fan", "completed")
    assert run.ready() == ["a", "b"]
    run.finish("b", "completed")
    assert run.ready() == []  # a is still running
    run.finish("a", "completed")
    assert run.ready() == ["join"]


def test_always_edge_is_taken_after_a_failure_and_other_edges_die() -> None:
    run = build(
        [("risky", "transform"), ("on_success", "transform"), ("cleanup", "transform")],
        [
            ("start", None, "risky"),
            ("sequence", "risky", "on_success"),
            ("always", "risky", "cleanup"),
        ],
    )
    assert drive(run, {}, failures=frozenset({"risky"})) == ["risky", "cleanup"]
    assert run.skipped == ["on_success"]


def test_always_edge_from_a_skipped_node_dies() -> None:
    run = build(
        [("check", "condition"), ("a", "transform"), ("b", "transform")],
        [("start", None, "check"), ("true_branch", "check", "a"), ("always", "a", "b")],
    )
    assert drive(run, {"check": False}) == ["check"]
    assert run.skipped == ["a", "b"]


def test_checkpoint_restores_state_and_reruns_running_nodes() -> None:
    run = build(
        [("a", "transform"), ("b", "transform"), ("c", "transform")],
        [("start", None, "a"), ("parallel", "a", "b"), ("parallel", "a", "c")],
    )
    run.ready()
    run.finish("a", "completed")
    assert run.ready() == ["b", "c"]
    run.finish("b", "completed")
    checkpoint = run.checkpoint(results={"a": 1, "b": 2}, order=["a", "b"], continued=1)
    resumed = GraphRun(run.graph, checkpoint)
    assert resumed.ready() == ["c"]
    resumed.finish("c", "completed")
    assert resumed.done


# ---- property: random DAGs with random branch outcomes and completion orders ----


@st.composite
def random_runs(draw: st.DrawFn) -> tuple[GraphRun, dict[str, bool], list[int]]:
    size = draw(st.integers(min_value=1, max_value=14))
    kinds = [draw(st.sampled_from(["transform", "transform", "condition"])) for _ in range(size)]
    names = [f"n{i}" for i in range(size)]
    edges: list[tuple[str, str | None, str]] = [("start", None, names[0])]
    for i in range(1, size):
        for source in sorted(draw(st.sets(st.integers(0, i - 1), min_size=1, max_size=3))):
            if kinds[source] == "condition":
                kind = draw(st.sampled_from(["true_branch", "false_branch", "always"]))
            else:
                kind = draw(st.sampled_from(["parallel", "always"]))
            edges.append((kind, names[source], names[i]))
    branches = {
        n: draw(st.booleans()) for n, k in zip(names, kinds, strict=True) if k == "condition"
    }
    picks = draw(st.lists(st.integers(min_value=0, max_value=1000), min_size=size, max_size=size))
    return build(list(zip(names, kinds, strict=True)), edges), branches, picks


def expected_runs(run: GraphRun, branches: dict[str, bool]) -> set[str]:
    """Reference semantics, computed independently in topological (declaration) order."""
    ran: set[str] = set()
    for node in run.graph.nodes:
        taken = False
        for edge in run.graph.inbound[node.name]:
            if edge.source is None:
                taken = True
            elif edge.source in ran:
                outcome = branches.get(edge.source)
                taken |= {
                    "true_branch": outcome is True,
                    "false_branch": outcome is False,
                }.get(edge.type, True)
        if taken:
            ran.add(node.name)
    return ran


@settings(max_examples=300, deadline=None)
@given(random_runs())
def test_random_dag_runs_each_live_node_once_after_its_sources(
    case: tuple[GraphRun, dict[str, bool], list[int]],
) -> None:
    run, branches, picks = case
    running: list[str] = list(run.ready())
    finished: list[str] = []
    for pick in picks * 3:  # more picks than nodes; finish in a random but bounded order
        if not running:
            break
        name = running.pop(pick % len(running))
        # every taken inbound edge's source has finished before this node finishes
        for edge in run.graph.inbound[name]:
            if edge.source is not None and run.edge[edge.index] == "taken":
                assert edge.source in finished
        finished.append(name)
        run.finish(name, "completed", branch=branches.get(name))
        running.extend(run.ready())
    while running:
        name = running.pop(0)
        finished.append(name)
        run.finish(name, "completed", branch=branches.get(name))
        running.extend(run.ready())
    assert run.done
    assert len(finished) == len(set(finished))
    assert set(finished) == expected_runs(run, branches)
    assert set(run.skipped) == {n.name for n in run.graph.nodes} - set(finished)
