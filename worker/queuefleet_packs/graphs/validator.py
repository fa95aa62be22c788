"""Check a graph completely before anything runs.

`parse_graph` either returns a `Graph` whose every node, edge, template and expression is
known to be well-formed, or raises `GraphError` listing each problem with the node or edge
it concerns. It is pure and deterministic, so the graph workflow calls it as its first step
and the CLI calls it for `queuefleet graph validate`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any, Final

from .children import RunTree, tree_problems
from .egress import MAX_HTTP_TIMEOUT_SECONDS, UrlError, header_problem, parse_url
from .expressions import (
    FUNCTIONS,
    ExpressionError,
    compile_expression,
    template_references,
)
from .limits import LimitError, measure
from .model import (
    BRANCHING_NODE_TYPES,
    EDGE_TYPES,
    MAX_CHILD_DEPTH,
    MAX_CHILDREN,
    MAX_EDGES,
    MAX_NODES,
    NODE_TYPE_ALIASES,
    NODE_TYPES,
    RESERVED_NAMES,
    Edge,
    Graph,
    GraphError,
    GraphOptions,
    Node,
)
from .node_checks import check_ai_agent_node, check_database_node

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
    "database": (frozenset({"connection", "sql"}), _ACTIVITY_FIELDS | {"parameters", "max_rows"}),
    "ai_agent": (
        frozenset({"prompt"}),
        _ACTIVITY_FIELDS | {"system", "model", "temperature", "max_tokens", "response_format"},
    ),
    "callback": (frozenset({"url"}), _ACTIVITY_FIELDS | {"payload", "headers"}),
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
    "max_children": (0, MAX_CHILDREN),
    "max_child_depth": (0, MAX_CHILD_DEPTH),
}
_MAX_SECONDS: Final = 366 * 24 * 3600
# Attempts a node's retry policy may ask for; 0 (Temporal's "unlimited") is refused.
MAX_ATTEMPTS: Final = 100
# A whole graph document (inline child graphs included) and each node field may nest this
# deep; JSON encoders and the renderer recurse, so depth is bounded before anything else.
MAX_DOCUMENT_DEPTH: Final = 100
MAX_FIELD_DEPTH: Final = 32
# `{{ }}` expressions in one graph document: each is parsed on every validation.
MAX_TEMPLATES: Final = 5000
_HTTP_NODE_TYPES: Final = ("http", "api_call", "webhook")


def parse_graph(raw: Any, *, _nesting: int = 0) -> Graph:
    """The validated graph, or GraphError naming every offending node and edge."""
    problems: list[str] = []
    if not isinstance(raw, dict):
        raise GraphError([f"graph: must be a JSON object, not {type(raw).__name__}"])
    # Node fields are measured one by one only when the document as a whole nests deep
    # enough for one of them to pass the field limit.
    deep = _check_document(raw) if _nesting == 0 else True
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
    if not isinstance(raw.get("description", ""), str):
        problems.append("graph: 'description' must be a string")
    options = _options(raw.get("options", {}), problems)

    nodes = _nodes(raw_nodes, problems, deep=deep)
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
    inline: dict[str, Graph] = {}
    for node in nodes.values():
        _check_node_spec(node, ancestors[node.name], problems, inline, _nesting)
    if problems:
        raise GraphError(problems)
    graph = Graph(
        name=name,
        nodes=tuple(nodes.values()),
        edges=tuple(edges),
        options=options,
        inbound={n: tuple(e) for n, e in inbound.items()},
        outbound={n: tuple(e) for n, e in outbound.items()},
        ancestors=ancestors,
        by_name=nodes,
        child_needs={
            n.name: 1 + (sum(inline[n.name].child_needs.values()) if n.name in inline else 0)
            for n in nodes.values()
            if n.type == "child"
        },
        child_depth={
            n.name: 1
            + (max(inline[n.name].child_depth.values(), default=0) if n.name in inline else 0)
            for n in nodes.values()
            if n.type == "child"
        },
    )
    if _nesting == 0:
        problems.extend(tree_problems(graph, RunTree()))
        if problems:
            raise GraphError(problems)
    return graph


def _check_document(raw: dict[str, Any]) -> bool:
    """Bounds that must hold before the rest of the validator walks the document; whether
    it nests deeper than a node field may."""
    try:
        shape = measure(raw, max_depth=MAX_DOCUMENT_DEPTH)
        # measured first, so encoding is bounded; "{{" survives JSON escaping unchanged
        count = json.dumps(raw, default=str).count("{{")
    except (LimitError, TypeError, ValueError) as error:
        raise GraphError([_culprit(raw) or f"graph: the document: {error}"]) from None
    if count > MAX_TEMPLATES:
        raise GraphError(
            [f"graph: {count} templates ('{{{{'), at most {MAX_TEMPLATES} in one graph document"]
        )
    return shape.depth > MAX_FIELD_DEPTH


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


def _nodes(raw_nodes: list[Any], problems: list[str], *, deep: bool) -> dict[str, Node]:
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
        required, optional = _FIELDS[NODE_TYPE_ALIASES.get(str(node_type), str(node_type))]
        for key in sorted(required - set(raw)):
            problems.append(f"node {name!r}: a {node_type} node needs {key!r}")
        for key in sorted(set(raw) - required - optional - _COMMON_FIELDS):
            problems.append(f"node {name!r}: unknown field {key!r} for a {node_type} node")
        if raw.get("on_error", "fail") not in ("fail", "continue"):
            problems.append(f"node {name!r}: 'on_error' must be 'fail' or 'continue'")
        if not isinstance(raw.get("description", ""), str):
            problems.append(f"node {name!r}: 'description' must be a string")
        for key, value in raw.items() if deep else ():
            if key == "graph":
                continue  # an inline graph is validated as a graph of its own
            try:
                measure(value, max_depth=MAX_FIELD_DEPTH)
            except LimitError as error:
                problems.append(f"node {name!r}: {key!r}: {error}")
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
        label = f"edge {index} ({_brief(raw.get('from', 'start'))} -> {_brief(raw.get('to'))})"
        for key in sorted(set(raw) - {"type", "from", "to", "description"}):
            problems.append(f"{label}: unknown field {key!r}")
        edge_type, source, target = raw.get("type"), raw.get("from"), raw.get("to")
        if not isinstance(source, str | None) or not isinstance(target, str):
            label = f"edge {index}"
            problems.append(f"{label}: 'from' and 'to' must be node names (strings)")
            continue
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


def _check_node_spec(
    node: Node,
    ancestors: frozenset[str],
    problems: list[str],
    inline: dict[str, Graph],
    nesting: int,
) -> None:
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
        "api_call": lambda: _check_http(node, problems),
        "database": lambda: check_database_node(node, problems),
        "ai_agent": lambda: check_ai_agent_node(node, problems),
        "callback": lambda: _check_callback(node, problems),
        "webhook": lambda: _check_webhook(node, problems),
        "condition": lambda: _check_condition(node, ancestors, problems),
        "child": lambda: _check_child(node, problems, inline, nesting),
    }
    checks.get(node.type, lambda: None)()
    for key in (
        "url", "headers", "query", "body", "payload", "output", "input",
        "parameters", "prompt", "system",
    ):  # fmt: skip
        templates(key)
    if node.type in _HTTP_NODE_TYPES:
        number("timeout_seconds", low=0.001, high=MAX_HTTP_TIMEOUT_SECONDS)
    else:
        number("timeout_seconds", low=0.001, high=_MAX_SECONDS)
    if node.type == "approval":
        _check_approvers(node, problems)
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
    if "{{" in url:
        # Scheme and host may come from data (the activity checks the rendered URL); when
        # the fixed text before the first template already names them, check that.
        head = url.split("{{", 1)[0]
        if "/" not in head.partition("://")[2]:
            return
        url = head
    try:
        parse_url(url)
    except UrlError as error:
        problems.append(f"node {node.name!r}: 'url' {error}")


def _check_headers(node: Node, problems: list[str]) -> None:
    headers = node.spec.get("headers", {})
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        problems.append(f"node {node.name!r}: 'headers' must be an object of strings")
        return
    for name, value in headers.items():
        if "{{" in name or "{{" in value:
            continue  # checked by the activity once rendered
        problem = header_problem(name, value)
        if problem is not None:
            problems.append(f"node {node.name!r}: {problem}")


def _check_approvers(node: Node, problems: list[str]) -> None:
    approvers = node.spec.get("approvers")
    if approvers is not None and (
        not isinstance(approvers, list)
        or not all(isinstance(a, str) and a.strip() and len(a) <= 200 for a in approvers)
        or len(approvers) > 100
    ):
        problems.append(
            f"node {node.name!r}: 'approvers' must be a list of at most 100 names "
            "(non-empty strings)"
        )


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


def _check_callback(node: Node, problems: list[str]) -> None:
    _check_url(node, problems)
    _check_headers(node, problems)


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


def _check_child(node: Node, problems: list[str], inline: dict[str, Graph], nesting: int) -> None:
    spec = node.spec
    if ("graph" in spec) == ("workflow" in spec):
        problems.append(
            f"node {node.name!r}: a child node needs exactly one of 'graph' or 'workflow'"
        )
        return
    if "workflow" in spec and (
        not isinstance(spec["workflow"], str) or not 0 < len(spec["workflow"]) <= 200
    ):
        problems.append(f"node {node.name!r}: 'workflow' must be a workflow type name")
    if "task_queue" in spec and (
        not isinstance(spec["task_queue"], str) or not 0 < len(spec["task_queue"]) <= 200
    ):
        problems.append(f"node {node.name!r}: 'task_queue' must be a task queue name")
    if "graph" in spec:
        if nesting + 1 > MAX_CHILD_DEPTH:
            problems.append(
                f"node {node.name!r}: inline child graphs nest more than {MAX_CHILD_DEPTH} deep"
            )
            return
        try:
            inline[node.name] = parse_graph(spec["graph"], _nesting=nesting + 1)
        except GraphError as error:
            problems.extend(f"node {node.name!r}: child graph: {p}" for p in error.problems)


def _culprit(raw: dict[str, Any]) -> str | None:
    """The node and field that make a document too deep or large, if one does."""
    nodes = raw.get("nodes")
    for position, node in enumerate(nodes if isinstance(nodes, list) else []):
        if not isinstance(node, dict):
            continue
        name = node.get("name") if isinstance(node.get("name"), str) else str(position)
        for key, value in node.items():
            try:
                measure(value, max_depth=MAX_DOCUMENT_DEPTH - 3)
            except LimitError as error:
                return f"node {_brief(name)!r}: {_brief(key)!r}: {error}"
    return None


def _brief(value: Any) -> str:
    text = value if isinstance(value, str) else type(value).__name__
    return text[:70]


def _check_retry(label: str, retry: Any, problems: list[str]) -> None:
    if not isinstance(retry, dict):
        problems.append(f"{label}: 'retry' must be an object")
        return
    for key in sorted(set(retry) - _RETRY_FIELDS):
        problems.append(
            f"{label}: unknown retry field {key!r} (expected {', '.join(sorted(_RETRY_FIELDS))})"
        )
    attempts = retry.get("maximum_attempts", 1)
    # Temporal reads 0 as "retry forever": a graph may not hold a node (and its run) open
    if not _is_int(attempts) or not 1 <= attempts <= MAX_ATTEMPTS:
        problems.append(
            f"{label}: 'retry.maximum_attempts' must be an integer from 1 to {MAX_ATTEMPTS} "
            "(0, unlimited in Temporal, is refused)"
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
