"""Check a graph completely before anything runs.

`parse_graph` either returns a `Graph` whose every node, edge, template and expression is
known to be well-formed, or raises `GraphError` listing each problem with the node or edge
it concerns. It is pure and deterministic, so the graph workflow calls it as its first step
and the CLI calls it for `queuefleet graph validate`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Final
from urllib.parse import urlsplit

from .expressions import FUNCTIONS, ExpressionError, compile_expression, template_references
from .model import (
    BRANCHING_NODE_TYPES,
    EDGE_TYPES,
    MAX_EDGES,
    MAX_NODES,
    NODE_TYPES,
    RESERVED_NAMES,
    Edge,
    Graph,
    GraphError,
    GraphOptions,
    Node,
)

__all__ = ["parse_graph"]

_NAME = re.compile(r"\A[A-Za-z][A-Za-z0-9_]{0,62}\Z")
_HTTP_METHODS: Final = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD")
_COMMON_FIELDS: Final = frozenset({"name", "type", "description", "on_error"})
_ACTIVITY_FIELDS: Final = frozenset({"timeout_seconds", "retry"})
# type -> (required fields, optional fields)
_FIELDS: Final[Mapping[str, tuple[frozenset[str], frozenset[str]]]] = {
    "http": (
        frozenset({"url"}),
        _ACTIVITY_FIELDS | {"method", "headers", "query", "body", "expect_status"},
    ),
    "webhook": (frozenset({"url"}), _ACTIVITY_FIELDS | {"payload", "headers", "sign_with"}),
    "transform": (frozenset({"output"}), frozenset()),
    "condition": (frozenset({"expression"}), frozenset()),
    "delay": (frozenset({"seconds"}), frozenset()),
    "approval": (frozenset(), frozenset({"timeout_seconds", "message", "approvers"})),
    "child": (
        frozenset(),
        frozenset({"graph", "workflow", "input", "task_queue", "timeout_seconds"}),
    ),
}
_RETRY_FIELDS: Final = frozenset(
    {
        "maximum_attempts",
        "initial_interval_seconds",
        "backoff_coefficient",
        "maximum_interval_seconds",
    }
)
_OPTION_FIELDS: Final = {
    "max_history_events": (100, 1_000_000),
    "max_result_bytes": (256, 1_000_000),
    "max_concurrent_nodes": (1, 1000),
}
_MAX_SECONDS: Final = 366 * 24 * 3600


def parse_graph(raw: Any) -> Graph:
    """The validated graph, or GraphError naming every offending node and edge."""
    problems: list[str] = []
    if not isinstance(raw, dict):
        raise GraphError([f"graph: must be a JSON object, not {type(raw).__name__}"])
    for key in sorted(set(raw) - {"name", "description", "nodes", "edges", "options", "$schema"}):
        problems.append(
            f"graph: unknown field {key!r} (expected name, description, nodes, edges, options)"
        )
    raw_nodes, raw_edges = raw.get("nodes"), raw.get("edges")
    if not isinstance(raw_nodes, list) or not raw_nodes:
        raise GraphError([*problems, "graph: 'nodes' must be a non-empty list of node objects"])
    if not isinstance(raw_edges, list) or not raw_edges:
        raise GraphError([*problems, "graph: 'edges' must be a non-empty list of edge objects"])
    if len(raw_nodes) > MAX_NODES:
        raise GraphError([f"graph: {len(raw_nodes)} nodes, at most {MAX_NODES} are allowed"])
    if len(raw_edges) > MAX_EDGES:
        raise GraphError([f"graph: {len(raw_edges)} edges, at most {MAX_EDGES} are allowed"])
    name = raw.get("name", "graph")
    if not isinstance(name, str):
        problems.append("graph: 'name' must be a string")
        name = "graph"
    options = _options(raw.get("options", {}), problems)

    nodes = _nodes(raw_nodes, problems)
    declared = {
        n.get("name") for n in raw_nodes if isinstance(n, dict) and isinstance(n.get("name"), str)
    }
    edges = _edges(raw_edges, nodes, declared, problems)
    if problems:
        raise GraphError(problems)

    inbound: dict[str, list[Edge]] = {n: [] for n in nodes}
    outbound: dict[str, list[Edge]] = {n: [] for n in nodes}
    for edge in edges:
        inbound[edge.target].append(edge)
        if edge.source is not None:
            outbound[edge.source].append(edge)
    _check_edge_rules(nodes, outbound, problems)
    order = _topological_order(nodes, outbound, problems)
    if problems:
        raise GraphError(problems)
    _check_reachable(nodes, edges, outbound, problems)
    ancestors = _ancestors(order, inbound)
    for node in nodes.values():
        _check_node_spec(node, ancestors[node.name], problems)
    if problems:
        raise GraphError(problems)
    return Graph(
        name=name,
        nodes=tuple(nodes.values()),
        edges=tuple(edges),
        options=options,
        inbound={n: tuple(e) for n, e in inbound.items()},
        outbound={n: tuple(e) for n, e in outbound.items()},
        ancestors=ancestors,
        by_name=nodes,
    )


def _options(raw: Any, problems: list[str]) -> GraphOptions:
    if not isinstance(raw, dict):
        problems.append("graph: 'options' must be an object")
        return GraphOptions()
    values: dict[str, int] = {}
    for key, value in raw.items():
        if key not in _OPTION_FIELDS:
            problems.append(f"graph: unknown option {key!r} (expected {', '.join(_OPTION_FIELDS)})")
            continue
        low, high = _OPTION_FIELDS[key]
        if not _is_int(value) or not low <= value <= high:
            problems.append(f"graph: option {key!r} must be an integer from {low} to {high}")
            continue
        values[key] = value
    return GraphOptions(**values)


def _nodes(raw_nodes: list[Any], problems: list[str]) -> dict[str, Node]:
    nodes: dict[str, Node] = {}
    for position, raw in enumerate(raw_nodes):
        if not isinstance(raw, dict):
            problems.append(f"node {position}: must be an object with 'name' and 'type'")
            continue
        name = raw.get("name")
        if not isinstance(name, str) or not _NAME.match(name):
            problems.append(
                f"node {position}: 'name' must be a letter followed by letters, digits or '_' "
                f"(at most 63), got {name!r}"
            )
            continue
        if name in RESERVED_NAMES or name in FUNCTIONS:
            problems.append(f"node {name!r}: the name is reserved, choose another")
            continue
        if name in nodes:
            problems.append(f"node {name!r}: the name is used by more than one node")
            continue
        node_type = raw.get("type")
        if node_type not in NODE_TYPES:
            problems.append(
                f"node {name!r}: unknown type {node_type!r} "
                f"(expected one of {', '.join(NODE_TYPES)})"
            )
            continue
        required, optional = _FIELDS[node_type]
        for key in sorted(required - set(raw)):
            problems.append(f"node {name!r}: a {node_type} node needs {key!r}")
        for key in sorted(set(raw) - required - optional - _COMMON_FIELDS):
            problems.append(f"node {name!r}: unknown field {key!r} for a {node_type} node")
        if raw.get("on_error", "fail") not in ("fail", "continue"):
            problems.append(f"node {name!r}: 'on_error' must be 'fail' or 'continue'")
        nodes[name] = Node(name=name, type=node_type, spec=raw, position=len(nodes))
    return nodes


def _edges(
    raw_edges: list[Any], nodes: Mapping[str, Node], declared: set[Any], problems: list[str]
) -> list[Edge]:
    # Edges touching a node that was declared but rejected are not reported again.
    edges: list[Edge] = []
    seen: set[tuple[str | None, str]] = set()
    for index, raw in enumerate(raw_edges):
        if not isinstance(raw, dict):
            problems.append(f"edge {index}: must be an object with 'type', 'from' and 'to'")
            continue
        label = f"edge {index} ({raw.get('from', 'start')} -> {raw.get('to')})"
        for key in sorted(set(raw) - {"type", "from", "to", "description"}):
            problems.append(f"{label}: unknown field {key!r}")
        edge_type, source, target = raw.get("type"), raw.get("from"), raw.get("to")
        if edge_type not in EDGE_TYPES:
            problems.append(
                f"{label}: unknown type {edge_type!r} (expected one of {', '.join(EDGE_TYPES)})"
            )
            continue
        if edge_type == "start" and source is not None:
            problems.append(f"{label}: a start edge has no 'from'")
            continue
        if edge_type != "start" and source is None:
            problems.append(
                f"{label}: a {edge_type} edge needs 'from' (only start edges have none)"
            )
            continue
        missing = [end for end in (source, target) if end is not None and end not in nodes]
        if missing and all(isinstance(end, str) and end in declared for end in missing):
            continue
        if source is not None and source not in nodes:
            problems.append(f"{label}: 'from' names no node: {source!r}")
            continue
        if target not in nodes:
            problems.append(f"{label}: 'to' names no node: {target!r}")
            continue
        if source == target:
            problems.append(f"{label}: an edge cannot lead from a node to itself")
            continue
        if (source, target) in seen:
            problems.append(
                f"{label}: duplicate edge, {source or 'start'} already leads to {target}"
            )
            continue
        seen.add((source, str(target)))
        edges.append(Edge(index=index, type=str(edge_type), source=source, target=str(target)))
    if edges and not any(edge.type == "start" for edge in edges):
        problems.append('graph: no start edge; add {"type": "start", "to": <first node>}')
    return edges


def _check_edge_rules(
    nodes: Mapping[str, Node], outbound: Mapping[str, list[Edge]], problems: list[str]
) -> None:
    for name, node in nodes.items():
        edges = outbound[name]
        branching = node.type in BRANCHING_NODE_TYPES
        for edge in edges:
            if edge.type in ("true_branch", "false_branch") and not branching:
                problems.append(
                    f"{edge.describe()}: {edge.type} edges leave condition or approval nodes only, "
                    f"{name!r} is a {node.type} node"
                )
            if branching and edge.type in ("sequence", "parallel"):
                problems.append(
                    f"{edge.describe()}: a {node.type} node continues with true_branch, "
                    f"false_branch or always edges, not {edge.type}"
                )
        sequences = [e for e in edges if e.type == "sequence"]
        if len(sequences) > 1:
            targets = ", ".join(e.target for e in sequences)
            problems.append(
                f"node {name!r}: more than one sequence edge ({targets}); "
                "use parallel edges to fan out"
            )


def _topological_order(
    nodes: Mapping[str, Node], outbound: Mapping[str, list[Edge]], problems: list[str]
) -> list[str]:
    # Depth-first search with an explicit stack, in declaration order, so a cycle is
    # reported the same way every time.
    state: dict[str, int] = {}  # 1 on the current path, 2 finished
    order: list[str] = []
    for root in nodes:
        if root in state:
            continue
        path: list[str] = [root]
        iterators = [iter(outbound[root])]
        state[root] = 1
        while iterators:
            edge = next(iterators[-1], None)
            if edge is None:
                iterators.pop()
                done = path.pop()
                state[done] = 2
                order.append(done)
                continue
            target = edge.target
            if state.get(target) == 1:
                cycle = [*path[path.index(target) :], target]
                problems.append(f"node {target!r}: edges form a cycle: {' -> '.join(cycle)}")
                return []
            if target not in state:
                state[target] = 1
                path.append(target)
                iterators.append(iter(outbound[target]))
    order.reverse()
    return order


def _check_reachable(
    nodes: Mapping[str, Node],
    edges: list[Edge],
    outbound: Mapping[str, list[Edge]],
    problems: list[str],
) -> None:
    reached = {edge.target for edge in edges if edge.type == "start"}
    frontier = sorted(reached, key=lambda n: nodes[n].position)
    while frontier:
        name = frontier.pop()
        for edge in outbound[name]:
            if edge.target not in reached:
                reached.add(edge.target)
                frontier.append(edge.target)
    for name in nodes:
        if name not in reached:
            problems.append(f"node {name!r}: not reachable from any start edge")


def _ancestors(order: list[str], inbound: Mapping[str, list[Edge]]) -> dict[str, frozenset[str]]:
    result: dict[str, frozenset[str]] = {}
    for name in order:  # topological: every source is done before its targets
        found: set[str] = set()
        for edge in inbound[name]:
            if edge.source is not None:
                found.add(edge.source)
                found.update(result[edge.source])
        result[name] = frozenset(found)
    return result


def _check_node_spec(node: Node, ancestors: frozenset[str], problems: list[str]) -> None:
    spec, label = node.spec, f"node {node.name!r}"

    def templates(key: str) -> None:
        if key not in spec:
            return
        try:
            names = template_references(spec[key])
        except ExpressionError as error:
            problems.append(f"{label}: bad template in {key!r}: {error}")
            return
        _check_names(label, key, names, ancestors, problems)

    def number(key: str, *, low: float, high: float, integer: bool = False) -> None:
        value = spec.get(key)
        if key in spec and (
            not _is_number(value)
            or not low <= value <= high  # type: ignore[operator]
            or (integer and not _is_int(value))
        ):
            kind = "an integer" if integer else "a number"
            problems.append(f"{label}: {key!r} must be {kind} from {low:g} to {high:g}")

    checks: dict[str, Callable[[], None]] = {
        "http": lambda: _check_http(node, problems),
        "webhook": lambda: _check_webhook(node, problems),
        "condition": lambda: _check_condition(node, ancestors, problems),
        "child": lambda: _check_child(node, problems),
    }
    checks.get(node.type, lambda: None)()
    for key in ("url", "headers", "query", "body", "payload", "output", "input"):
        templates(key)
    number("timeout_seconds", low=0.001, high=_MAX_SECONDS)
    if node.type == "delay":
        number("seconds", low=0.001, high=_MAX_SECONDS)
    retry = spec.get("retry")
    if retry is not None:
        _check_retry(label, retry, problems)


def _check_names(
    label: str, key: str, names: frozenset[str], ancestors: frozenset[str], problems: list[str]
) -> None:
    for name in sorted(names - ancestors - {"input"}):
        problems.append(
            f"{label}: {key!r} reads {name!r}, which is not a node that runs before it "
            f"(templates read 'input' and upstream nodes)"
        )


def _check_url(node: Node, problems: list[str]) -> None:
    url = node.spec.get("url")
    if not isinstance(url, str):
        problems.append(f"node {node.name!r}: 'url' must be a string")
        return
    if url.startswith("{{"):
        return  # the scheme comes from data; the activity checks it before connecting
    scheme = urlsplit(url).scheme.lower()
    if scheme not in ("http", "https"):
        problems.append(
            f"node {node.name!r}: 'url' must start with http:// or https://, got {url!r}"
        )


def _check_headers(node: Node, problems: list[str]) -> None:
    headers = node.spec.get("headers", {})
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        problems.append(f"node {node.name!r}: 'headers' must be an object of strings")


def _check_http(node: Node, problems: list[str]) -> None:
    _check_url(node, problems)
    _check_headers(node, problems)
    method = node.spec.get("method", "GET")
    if method not in _HTTP_METHODS:
        problems.append(
            f"node {node.name!r}: 'method' must be one of {', '.join(_HTTP_METHODS)}, "
            f"got {method!r}"
        )
    if "query" in node.spec and not isinstance(node.spec["query"], dict):
        problems.append(f"node {node.name!r}: 'query' must be an object")
    expect = node.spec.get("expect_status")
    if expect is not None and (
        not isinstance(expect, list)
        or not expect
        or not all(_is_int(s) and 100 <= s <= 599 for s in expect)
    ):
        problems.append(
            f"node {node.name!r}: 'expect_status' must be a non-empty list of HTTP status codes"
        )


def _check_webhook(node: Node, problems: list[str]) -> None:
    _check_url(node, problems)
    _check_headers(node, problems)
    sign_with = node.spec.get("sign_with")
    if sign_with is not None and (not isinstance(sign_with, str) or not _NAME.match(sign_with)):
        problems.append(
            f"node {node.name!r}: 'sign_with' must name a secret configured on the worker"
        )


def _check_condition(node: Node, ancestors: frozenset[str], problems: list[str]) -> None:
    source = node.spec.get("expression")
    if not isinstance(source, str):
        problems.append(f"node {node.name!r}: 'expression' must be a string")
        return
    if (
        isinstance(source, str)
        and source.strip().startswith("{{")
        and source.strip().endswith("}}")
    ):
        source = source.strip()[2:-2]
    try:
        expression = compile_expression(source)
    except ExpressionError as error:
        problems.append(f"node {node.name!r}: bad expression: {error}")
        return
    _check_names(f"node {node.name!r}", "expression", expression.names, ancestors, problems)


def _check_child(node: Node, problems: list[str]) -> None:
    spec = node.spec
    if ("graph" in spec) == ("workflow" in spec):
        problems.append(
            f"node {node.name!r}: a child node needs exactly one of 'graph' or 'workflow'"
        )
        return
    if "workflow" in spec and (not isinstance(spec["workflow"], str) or not spec["workflow"]):
        problems.append(f"node {node.name!r}: 'workflow' must be a workflow type name")
    if "task_queue" in spec and not isinstance(spec["task_queue"], str):
        problems.append(f"node {node.name!r}: 'task_queue' must be a string")
    if "graph" in spec:
        try:
            parse_graph(spec["graph"])
        except GraphError as error:
            problems.extend(f"node {node.name!r}: child graph: {p}" for p in error.problems)


def _check_retry(label: str, retry: Any, problems: list[str]) -> None:
    if not isinstance(retry, dict):
        problems.append(f"{label}: 'retry' must be an object")
        return
    for key in sorted(set(retry) - _RETRY_FIELDS):
        problems.append(
            f"{label}: unknown retry field {key!r} (expected {', '.join(sorted(_RETRY_FIELDS))})"
        )
    attempts = retry.get("maximum_attempts", 1)
    if not _is_int(attempts) or not 0 <= attempts <= 100:
        problems.append(
            f"{label}: 'retry.maximum_attempts' must be an integer from 0 (unlimited) to 100"
        )
    for key in ("initial_interval_seconds", "maximum_interval_seconds"):
        if key in retry and (not _is_number(retry[key]) or not 0 < retry[key] <= _MAX_SECONDS):
            problems.append(f"{label}: 'retry.{key}' must be a positive number of seconds")
    if "backoff_coefficient" in retry and (
        not _is_number(retry["backoff_coefficient"]) or not 1 <= retry["backoff_coefficient"] <= 10
    ):
        problems.append(f"{label}: 'retry.backoff_coefficient' must be a number from 1 to 10")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
