"""The graph validator: every invalid graph is rejected with the message that names its fault."""

# ruff: noqa: E501  (tables of graphs read better one case per line)

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from queuefleet_packs.graphs.model import EDGE_TYPES, NODE_TYPES, GraphError
from queuefleet_packs.graphs.validator import parse_graph

ROOT = Path(__file__).resolve().parents[3]
SCHEMA = json.loads((ROOT / "worker/queuefleet_packs/graphs/graph.schema.json").read_text())
EXAMPLES = sorted((ROOT / "examples/graphs").glob("*.json"))


def t(name: str, output: Any = 1) -> dict[str, Any]:
    return {"name": name, "type": "transform", "output": output}


def graph(nodes: list[dict[str, Any]], edges: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"nodes": nodes, "edges": edges, **extra}


START_A = {"type": "start", "to": "a"}
A_TO_B = {"type": "sequence", "from": "a", "to": "b"}

# (case id, graph, the message that must appear)
INVALID: list[tuple[str, Any, str]] = [
    ("not-an-object", [1, 2], "graph: must be a JSON object, not list"),
    ("no-nodes", {"edges": [START_A]}, "graph: 'nodes' must be a non-empty list"),
    ("no-edges", {"nodes": [t("a")], "edges": []}, "graph: 'edges' must be a non-empty list"),
    ("unknown-top-field", graph([t("a")], [START_A], nodez=[]), "graph: unknown field 'nodez'"),
    ("node-not-object", graph(["a"], [START_A]), "node 0: must be an object"),
    ("bad-node-name", graph([t("a b")], [START_A]), "node 0: 'name' must be a letter"),
    (
        "reserved-name",
        graph([t("input")], [{"type": "start", "to": "input"}]),
        "node 'input': the name is reserved",
    ),
    (
        "duplicate-name",
        graph([t("a"), t("a")], [START_A]),
        "node 'a': the name is used by more than one node",
    ),
    (
        "unknown-node-type",
        graph([{"name": "a", "type": "shell"}], [START_A]),
        "node 'a': unknown type 'shell'",
    ),
    (
        "missing-required",
        graph([{"name": "a", "type": "http"}], [START_A]),
        "node 'a': a http node needs 'url'",
    ),
    (
        "unknown-node-field",
        graph([{**t("a"), "urll": "x"}], [START_A]),
        "node 'a': unknown field 'urll' for a transform node",
    ),
    (
        "bad-on-error",
        graph([{**t("a"), "on_error": "ignore"}], [START_A]),
        "node 'a': 'on_error' must be 'fail' or 'continue'",
    ),
    (
        "unknown-edge-type",
        graph([t("a"), t("b")], [START_A, {"type": "next", "from": "a", "to": "b"}]),
        "edge 1 (a -> b): unknown type 'next'",
    ),
    (
        "dangling-from",
        graph([t("a")], [START_A, {"type": "sequence", "from": "ghost", "to": "a"}]),
        "edge 1 (ghost -> a): 'from' names no node: 'ghost'",
    ),
    (
        "dangling-to",
        graph([t("a")], [START_A, {"type": "sequence", "from": "a", "to": "ghost"}]),
        "edge 1 (a -> ghost): 'to' names no node: 'ghost'",
    ),
    (
        "start-with-from",
        graph([t("a"), t("b")], [START_A, {"type": "start", "from": "a", "to": "b"}]),
        "edge 1 (a -> b): a start edge has no 'from'",
    ),
    (
        "sequence-without-from",
        graph([t("a"), t("b")], [START_A, {"type": "sequence", "to": "b"}]),
        "edge 1 (start -> b): a sequence edge needs 'from'",
    ),
    ("no-start", graph([t("a"), t("b")], [A_TO_B]), "graph: no start edge"),
    (
        "self-loop",
        graph([t("a")], [START_A, {"type": "always", "from": "a", "to": "a"}]),
        "edge 1 (a -> a): an edge cannot lead from a node to itself",
    ),
    (
        "duplicate-edge",
        graph([t("a"), t("b")], [START_A, A_TO_B, {"type": "parallel", "from": "a", "to": "b"}]),
        "edge 2 (a -> b): duplicate edge",
    ),
    (
        "cycle",
        graph(
            [t("a"), t("b"), t("c")],
            [
                START_A,
                A_TO_B,
                {"type": "sequence", "from": "b", "to": "c"},
                {"type": "sequence", "from": "c", "to": "b"},
            ],
        ),
        "node 'b': edges form a cycle: b -> c -> b",
    ),
    (
        "unreachable",
        graph([t("a"), t("b")], [START_A]),
        "node 'b': not reachable from any start edge",
    ),
    (
        "branch-from-transform",
        graph([t("a"), t("b")], [START_A, {"type": "true_branch", "from": "a", "to": "b"}]),
        "edge 1 (a -> b): true_branch edges leave condition or approval nodes only",
    ),
    (
        "sequence-from-condition",
        graph(
            [{"name": "a", "type": "condition", "expression": "true"}, t("b")], [START_A, A_TO_B]
        ),
        "edge 1 (a -> b): a condition node continues with true_branch",
    ),
    (
        "two-sequences",
        graph(
            [t("a"), t("b"), t("c")],
            [START_A, A_TO_B, {"type": "sequence", "from": "a", "to": "c"}],
        ),
        "node 'a': more than one sequence edge (b, c)",
    ),
    (
        "bad-expression-syntax",
        graph([{"name": "a", "type": "condition", "expression": "1 +"}], [START_A]),
        "node 'a': bad expression: '1 +' is not a valid expression",
    ),
    (
        "unsafe-import",
        graph(
            [{"name": "a", "type": "condition", "expression": "__import__('os').system('id')"}],
            [START_A],
        ),
        "node 'a': bad expression: \"__import__('os').system('id')\" calls",
    ),
    (
        "unsafe-dunder",
        graph([t("a", "{{input.__class__}}")], [START_A]),
        "node 'a': bad template in 'output': 'input.__class__' reads '__class__'",
    ),
    (
        "unsafe-lambda",
        graph([t("a", "{{(lambda: 1)()}}")], [START_A]),
        "node 'a': bad template in 'output': '(lambda: 1)()' calls",
    ),
    (
        "unsafe-comprehension",
        graph([t("a", "{{[x for x in input]}}")], [START_A]),
        "uses ListComp, which expressions do not allow",
    ),
    (
        "unbalanced-template",
        graph([t("a", "{{input.x")], [START_A]),
        "node 'a': bad template in 'output': template '{{input.x' has an unbalanced",
    ),
    (
        "template-unknown-node",
        graph([t("a", "{{ghost.x}}")], [START_A]),
        "node 'a': 'output' reads 'ghost', which is not a node that runs before it",
    ),
    (
        "template-downstream-node",
        graph([t("a", "{{b.x}}"), t("b")], [START_A, A_TO_B]),
        "node 'a': 'output' reads 'b', which is not a node that runs before it",
    ),
    (
        "file-url",
        graph([{"name": "a", "type": "http", "url": "file:///etc/passwd"}], [START_A]),
        "node 'a': 'url' must start with http:// or https://",
    ),
    (
        "bad-method",
        graph([{"name": "a", "type": "http", "url": "http://x", "method": "TRACE"}], [START_A]),
        "node 'a': 'method' must be one of",
    ),
    (
        "zero-delay",
        graph([{"name": "a", "type": "delay", "seconds": 0}], [START_A]),
        "node 'a': 'seconds' must be a number from",
    ),
    (
        "child-both",
        graph([{"name": "a", "type": "child", "workflow": "W", "graph": {}}], [START_A]),
        "node 'a': a child node needs exactly one of 'graph' or 'workflow'",
    ),
    (
        "child-graph-invalid",
        graph(
            [
                {
                    "name": "a",
                    "type": "child",
                    "graph": graph([t("x")], [{"type": "start", "to": "y"}]),
                }
            ],
            [START_A],
        ),
        "node 'a': child graph: edge 0 (start -> y): 'to' names no node: 'y'",
    ),
    (
        "bad-retry",
        graph(
            [{"name": "a", "type": "http", "url": "http://x", "retry": {"maximum_attempts": -1}}],
            [START_A],
        ),
        "node 'a': 'retry.maximum_attempts' must be an integer",
    ),
    (
        "bad-option",
        graph([t("a")], [START_A], options={"max_history_events": 5}),
        "graph: option 'max_history_events' must be an integer from 100",
    ),
    (
        "secret-inline",
        graph(
            [{"name": "a", "type": "webhook", "url": "http://x", "sign_with": "s3cr3t value"}],
            [START_A],
        ),
        "node 'a': 'sign_with' must name a secret configured on the worker",
    ),
]


def test_corpus_is_large_enough() -> None:
    assert len(INVALID) >= 20
    assert len({case[0] for case in INVALID}) == len(INVALID)


@pytest.mark.parametrize(("raw", "message"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_invalid_graph_is_rejected_with_its_message(raw: Any, message: str) -> None:
    with pytest.raises(GraphError) as caught:
        parse_graph(raw)
    assert any(message in problem for problem in caught.value.problems), caught.value.problems


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_examples_are_valid_for_the_validator_and_the_schema(path: Path) -> None:
    raw = json.loads(path.read_text())
    jsonschema.validate(raw, SCHEMA)
    assert parse_graph(raw).nodes


def test_schema_lists_the_same_node_and_edge_types_as_the_code() -> None:
    assert tuple(SCHEMA["$defs"]["node"]["properties"]["type"]["enum"]) == NODE_TYPES
    assert tuple(SCHEMA["$defs"]["edge"]["properties"]["type"]["enum"]) == EDGE_TYPES


def test_every_problem_is_reported_at_once() -> None:
    raw = graph([{"name": "a", "type": "shell"}, {"name": "b", "type": "http"}], [START_A])
    with pytest.raises(GraphError) as caught:
        parse_graph(raw)
    assert len(caught.value.problems) == 2


def test_derived_structure_is_in_declaration_order() -> None:
    parsed = parse_graph(
        graph(
            [t("a"), t("b"), t("c"), t("d")],
            [START_A, {"type": "parallel", "from": "a", "to": "c"}, {"type": "parallel", "from": "a", "to": "b"},
             {"type": "sequence", "from": "b", "to": "d"}, {"type": "sequence", "from": "c", "to": "d"}],
        )
    )  # fmt: skip
    assert [e.target for e in parsed.outbound["a"]] == ["c", "b"]
    assert parsed.ancestors["d"] == {"a", "b", "c"}


# ---- property tests ----


@st.composite
def dags(draw: st.DrawFn) -> dict[str, Any]:
    """A random valid graph: edges only go forward in the node list, every node reachable."""
    size = draw(st.integers(min_value=1, max_value=12))
    names = [f"n{i}" for i in range(size)]
    edges: list[dict[str, Any]] = [{"type": "start", "to": names[0]}]
    for i in range(1, size):
        sources = draw(st.sets(st.integers(0, i - 1), min_size=1, max_size=3))
        edges.extend(
            {"type": "parallel", "from": names[s], "to": names[i]} for s in sorted(sources)
        )
    return graph([t(n) for n in names], edges)


@settings(max_examples=150, deadline=None)
@given(dags())
def test_random_dags_are_accepted(raw: dict[str, Any]) -> None:
    parsed = parse_graph(raw)
    assert [n.name for n in parsed.nodes] == [n["name"] for n in raw["nodes"]]


@settings(max_examples=150, deadline=None)
@given(dags(), st.data())
def test_a_back_edge_is_always_reported_as_a_cycle(
    raw: dict[str, Any], data: st.DataObject
) -> None:
    size = len(raw["nodes"])
    if size < 2:
        return
    edges = [e for e in raw["edges"] if e["type"] != "start"]
    edge = data.draw(st.sampled_from(edges))
    back = {"type": "always", "from": edge["to"], "to": edge["from"]}
    with pytest.raises(GraphError) as caught:
        parse_graph({**raw, "edges": [*raw["edges"], back]})
    assert any("edges form a cycle" in p for p in caught.value.problems)


@settings(max_examples=150, deadline=None)
@given(dags(), st.data())
def test_a_dangling_edge_is_always_named(raw: dict[str, Any], data: st.DataObject) -> None:
    source = data.draw(st.sampled_from([n["name"] for n in raw["nodes"]]))
    edges = [*raw["edges"], {"type": "always", "from": source, "to": "ghost"}]
    with pytest.raises(GraphError) as caught:
        parse_graph({**raw, "edges": edges})
    assert caught.value.problems == [
        f"edge {len(edges) - 1} ({source} -> ghost): 'to' names no node: 'ghost'"
    ]


@settings(max_examples=300, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
        max_leaves=15,
    )
)
def test_validator_never_crashes_on_arbitrary_json(raw: Any) -> None:
    for candidate in (raw, {"nodes": raw, "edges": raw}, {"nodes": [raw], "edges": [raw]}):
        problems: list[str] = ["accepted"]
        try:
            parse_graph(candidate)
        except GraphError as error:
            problems = error.problems
        assert problems


def _node_types(graph: dict[str, Any]) -> set[str]:
    found = set()
    for node in graph.get("nodes", []):
        found.add(node.get("type"))
        if isinstance(node.get("graph"), dict):  # an inline child graph
            found |= _node_types(node["graph"])
    return found


def test_every_node_type_has_an_example_that_graph_validate_accepts(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from queuefleet_cli.main import main

    covered: set[str] = set()
    for path in EXAMPLES:
        assert main(["graph", "validate", str(path)]) == 0, capsys.readouterr().err
        assert capsys.readouterr().out.startswith(f"{path}: valid graph ")
        covered |= _node_types(json.loads(path.read_text()))
    assert set(NODE_TYPES) - covered == set()
