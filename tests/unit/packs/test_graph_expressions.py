"""The safe evaluator: what expressions and templates can do, and what they never reach."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from queuefleet_packs.graphs.expressions import (
    ExpressionError,
    compile_expression,
    compile_template,
    render,
    template_references,
)
from queuefleet_packs.graphs.limits import fit_result, result_size

SCOPE: dict[str, Any] = {
    "input": {"n": 3, "name": "Ada", "tags": ["a", "b"]},
    "fetch": {"status": 200, "body": {"items": [{"sku": "x1", "qty": 2}], "total": 42.5}},
    "skipped": None,
}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("input.n * 2 + 1", 7),
        ("fetch.body.items[0].sku", "x1"),
        ("fetch['body']['total'] >= 40", True),
        ("fetch.status == 200 and len(input.tags) == 2", True),
        ("'b' in input.tags", True),
        ("upper(input.name) if input.n > 2 else 'small'", "ADA"),
        ("default(skipped.value, 'fallback')", "fallback"),
        ("skipped.deep.field", None),
        ("{'a': input.n, 'b': [1, 2]}", {"a": 3, "b": [1, 2]}),
        ("min(3, input.n, 9) + max(1, 2)", 5),
        ("not (1 < input.n < 2)", True),
        ("round(10 / 3, 2)", 3.33),
        ("str(true) + '-' + str(null)", "true-"),
    ],
)
def test_expressions_evaluate(source: str, expected: Any) -> None:
    assert compile_expression(source).evaluate(SCOPE) == expected


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("__import__('os')", "calls '__import__'"),
        ("input.__class__.__mro__", "names starting with '_' are not allowed"),
        ("_secret", "names starting with '_' are not allowed"),
        ("open('/etc/passwd')", "calls 'open'"),
        ("getattr(input, 'n')", "calls 'getattr'"),
        ("input.n.bit_length()", "calls 'input.n.bit_length'"),
        ("(lambda: 0)()", "calls 'lambda: 0'"),
        ("[x for x in input.tags]", "uses ListComp"),
        ("{**input}", "'**' in objects is not allowed"),
        ("2 ** 100000", "uses Pow"),
        ("input.n := 3", "not a valid expression"),
        ("x = 1", "not a valid expression"),
        ("f'{input}'", "uses JoinedStr"),
        ("b'bytes'", "uses a bytes literal"),
        ("input.tags[0:1]", "uses Slice"),
        ("len(input, key=1)", "plain arguments only"),
        ("1 if 2", "not a valid expression"),
        ("a" * 501, "longer than 500"),
    ],
)
def test_unsafe_or_malformed_expressions_are_rejected(source: str, message: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        compile_expression(source)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("fetch.body.missing", "no field 'missing' (fields: items, total)"),
        ("input.n.field", "cannot read field 'field' of a number"),
        ("ghost", "unknown name 'ghost'"),
        ("input.n / 0", "division by zero"),
        ("'x' * 200000", "longer than 100000"),
        ("input.tags['a']", "a list index must be an integer"),
        ("len(input.n)", "len() needs a string, list or object"),
        (
            "99999999999999999999999999999999 * 99999999999999999999999999999999",
            "more than 60 digits",
        ),
    ],
)
def test_runtime_errors_are_expression_errors(source: str, message: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        compile_expression(source).evaluate(SCOPE)
    assert message in str(caught.value)


def test_templates_keep_types_when_whole_and_join_text_otherwise() -> None:
    assert render("{{input.n}}", SCOPE) == 3
    assert render(" {{input.n}}", SCOPE) == " 3"
    assert render({"k{{input.n}}": ["{{fetch.body.total}}", "id={{input.name}}", 5]}, SCOPE) == {
        "k3": [42.5, "id=Ada", 5]
    }
    assert render("no templates here", SCOPE) == "no templates here"


def test_template_references_name_the_context_entries_read() -> None:
    value = {"a": "{{fetch.body}} and {{input.n}}", "b": ["{{len(other.x)}}"]}
    assert template_references(value) == {"fetch", "input", "other"}


@pytest.mark.parametrize("source", ["{{input.n", "input.n}}", "{{a}} }}", "{{ {{a}} }}"])
def test_unbalanced_templates_are_rejected(source: str) -> None:
    with pytest.raises(ExpressionError):
        compile_template(source)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_arbitrary_text_never_escapes_the_evaluator(source: str) -> None:
    # Whatever the text, compiling and evaluating raises ExpressionError or returns JSON-like data.
    try:
        value = compile_expression(source).evaluate(SCOPE)
    except ExpressionError:
        return
    assert isinstance(value, str | int | float | bool | list | dict | type(None))


@settings(max_examples=200, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(),
        lambda c: st.lists(c, max_size=5) | st.dictionaries(st.text(max_size=5), c, max_size=5),
        max_leaves=30,
    ),
    st.integers(min_value=256, max_value=2048),
)
def test_fitted_results_always_fit(value: Any, limit: int) -> None:
    fitted = fit_result(value, limit)
    assert result_size(fitted) <= limit * 2 + 200  # a summary is bounded by the limit
    if result_size(value) <= limit:
        assert fitted == value
    else:
        assert fitted["truncated"] is True
        assert fitted["size_bytes"] == result_size(value)
