"""The hostile corpus through the validator and the evaluator: each case is refused the
way it says, quickly, and never with anything but GraphError or ExpressionError."""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from typing import Any

import pytest
from queuefleet_packs.graphs.expressions import ExpressionError, compile_expression, render
from queuefleet_packs.graphs.model import GraphError
from queuefleet_packs.graphs.validator import parse_graph

from tests.fixtures.hostile_graphs import CASES, HostileCase

SERVICE = "http://127.0.0.1:1"  # never contacted: unit tests open no connection
# Generous: each case takes milliseconds; this only catches a return of the quadratic
# and exponential paths (the real-worker test holds every case to 10 s end to end).
SECONDS_PER_CASE = 3.0


def materialize(case: HostileCase) -> dict[str, Any]:
    first = case.graph["nodes"][0]
    if "{service}" not in str(first.get("url", "")):
        return case.graph
    node = {**first, "url": first["url"].replace("{service}", SERVICE)}
    return {**case.graph, "nodes": [node, *case.graph["nodes"][1:]]}


def test_the_corpus_covers_every_category_with_at_least_40_cases() -> None:
    assert len(CASES) >= 40
    assert len({case.id for case in CASES}) == len(CASES)
    per_category = Counter(case.category for case in CASES)
    for category in ("c-call", "memory", "exception", "shape", "fan-out", "payload", "http"):
        assert per_category[category] >= 2, category


@pytest.mark.parametrize("case", [c for c in CASES if c.where == "validator"], ids=lambda c: c.id)
def test_the_validator_rejects_it_naming_the_problem(case: HostileCase) -> None:
    started = time.monotonic()
    with pytest.raises(GraphError) as caught:
        parse_graph(materialize(case))
    assert time.monotonic() - started < SECONDS_PER_CASE
    assert case.message in str(caught.value)
    if case.graph["nodes"][0].get("name") == "x" and "node" in str(caught.value):
        assert "node 'x'" in str(caught.value)


@pytest.mark.parametrize("case", [c for c in CASES if c.where == "evaluator"], ids=lambda c: c.id)
def test_the_evaluator_fails_the_node_naming_the_reason(case: HostileCase) -> None:
    graph = parse_graph(materialize(case))  # valid: only its data makes it fail
    [node] = graph.nodes
    scope = {"input": case.input}
    if node.type == "condition":
        expression = compile_expression(str(node.spec["expression"]))

        def evaluate() -> Any:
            return expression.evaluate(scope)
    else:

        def evaluate() -> Any:
            return render(node.spec["output"], scope)

    started = time.monotonic()
    with pytest.raises(ExpressionError) as caught:
        evaluate()
    assert time.monotonic() - started < SECONDS_PER_CASE
    assert case.message in str(caught.value)


@pytest.mark.parametrize("case", [c for c in CASES if c.where == "worker"], ids=lambda c: c.id)
def test_cases_decided_by_the_worker_pass_the_validator_or_are_refused_cleanly(
    case: HostileCase,
) -> None:
    # Only the worker's settings or the network decide these; the validator must not crash.
    started = time.monotonic()
    with contextlib.suppress(GraphError):  # a clean refusal is fine, nothing else is
        parse_graph(materialize(case))
    assert time.monotonic() - started < SECONDS_PER_CASE
