"""A safe evaluator for graph conditions and `{{ ... }}` templates.

Expressions are parsed with Python's `ast` and only an allow-list of node types is accepted;
evaluation walks that tree itself, so nothing reaches `eval`/`exec`, attributes of Python
objects, builtins, the file system or the environment. `a.b` reads the key "b" of the
mapping `a`, never a Python attribute. Sizes are bounded so a graph cannot exhaust memory.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

__all__ = [
    "MAX_EXPRESSION_LENGTH",
    "Expression",
    "ExpressionError",
    "Template",
    "compile_expression",
    "compile_template",
    "render",
    "template_references",
]

MAX_EXPRESSION_LENGTH: Final = 500
MAX_EXPRESSION_NODES: Final = 200
MAX_VALUE_LENGTH: Final = 100_000  # longest string or list an expression may build
MAX_INT_DIGITS: Final = 60

_TEMPLATE = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_WHOLE_TEMPLATE = re.compile(r"\A\{\{(.*?)\}\}\Z", re.DOTALL)


class ExpressionError(ValueError):
    """An expression is malformed, uses something not allowed, or fails on its data."""


def _to_str(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _length(value: Any) -> int:
    if isinstance(value, str | list | tuple | dict):
        return len(value)
    raise ExpressionError(f"len() needs a string, list or object, not {_type_name(value)}")


def _number(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def call(value: Any, *rest: Any) -> Any:
        try:
            return convert(value, *rest)
        except (TypeError, ValueError) as error:
            raise ExpressionError(f"cannot convert {value!r} to a number") from error

    return call


def _default(value: Any, fallback: Any) -> Any:
    return fallback if value is None else value


# The only callables an expression can reach, by name.
FUNCTIONS: Final[Mapping[str, Callable[..., Any]]] = {
    "len": _length,
    "str": _to_str,
    "int": _number(int),
    "float": _number(float),
    "bool": bool,
    "abs": _number(abs),
    "round": _number(round),
    "min": min,
    "max": max,
    "lower": lambda s: _to_str(s).lower(),
    "upper": lambda s: _to_str(s).upper(),
    "default": _default,
}
CONSTANTS: Final[Mapping[str, Any]] = {"true": True, "false": False, "null": None}

_BINARY: Final[Mapping[type[ast.operator], Callable[[Any, Any], Any]]] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.FloorDiv: lambda a, b: a // b,
    ast.Mod: lambda a, b: a % b,
}
_COMPARE: Final[Mapping[type[ast.cmpop], Callable[[Any, Any], bool]]] = {
    ast.Eq: lambda a, b: a == b,
    ast.NotEq: lambda a, b: a != b,
    ast.Lt: lambda a, b: a < b,
    ast.LtE: lambda a, b: a <= b,
    ast.Gt: lambda a, b: a > b,
    ast.GtE: lambda a, b: a >= b,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
}
_ALLOWED_NODES: Final = (
    ast.Expression, ast.Constant, ast.Name, ast.Load, ast.Attribute, ast.Subscript,
    ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.IfExp, ast.Call,
    ast.List, ast.Tuple, ast.Dict, ast.And, ast.Or, ast.Not, ast.USub, ast.UAdd,
    *_BINARY, *_COMPARE,
)  # fmt: skip


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "object", list: "list", tuple: "list", str: "string", bool: "boolean"}.get(
        type(value), "number" if isinstance(value, int | float) else type(value).__name__
    )


@dataclass(frozen=True)
class Expression:
    """A checked expression: its source, its tree and the context names it reads."""

    source: str
    tree: ast.Expression
    names: frozenset[str]

    def evaluate(self, scope: Mapping[str, Any]) -> Any:
        try:
            return _Evaluator(scope).visit(self.tree.body)
        except ExpressionError as error:
            raise ExpressionError(f"{self.source.strip()!r}: {error}") from None
        except (TypeError, ZeroDivisionError, OverflowError, IndexError) as error:
            raise ExpressionError(f"{self.source.strip()!r}: {error}") from None


def compile_expression(source: str) -> Expression:
    """Parse and check an expression; raises ExpressionError saying what is not allowed."""
    if not isinstance(source, str):
        raise ExpressionError(f"an expression must be a string, not {_type_name(source)}")
    if not source.strip():
        raise ExpressionError("expression is empty")
    if len(source) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError(f"expression is longer than {MAX_EXPRESSION_LENGTH} characters")
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as error:
        raise ExpressionError(
            f"{source.strip()!r} is not a valid expression: {error.msg}"
        ) from None
    names: set[str] = set()
    count = 0
    for node in ast.walk(tree):
        count += 1
        if not isinstance(node, _ALLOWED_NODES):
            raise ExpressionError(
                f"{source.strip()!r} uses {type(node).__name__}, which expressions do not allow"
            )
        if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            raise ExpressionError(
                f"{source.strip()!r} reads {node.attr!r}: names starting with '_' are not allowed"
            )
        if isinstance(node, ast.Name) and node.id.startswith("_"):
            raise ExpressionError(
                f"{source.strip()!r} reads {node.id!r}: names starting with '_' are not allowed"
            )
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
                what = node.func.id if isinstance(node.func, ast.Name) else ast.unparse(node.func)
                allowed = ", ".join(sorted(FUNCTIONS))
                raise ExpressionError(
                    f"{source.strip()!r} calls {what!r}; allowed functions: {allowed}"
                )
            if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
                raise ExpressionError(
                    f"{source.strip()!r}: function calls take plain arguments only"
                )
        if isinstance(node, ast.Constant) and not isinstance(
            node.value, str | int | float | bool | type(None)
        ):
            raise ExpressionError(f"{source.strip()!r} uses a {type(node.value).__name__} literal")
        if isinstance(node, ast.Dict) and any(key is None for key in node.keys):
            raise ExpressionError(f"{source.strip()!r}: '**' in objects is not allowed")
    if count > MAX_EXPRESSION_NODES:
        raise ExpressionError(
            f"{source.strip()!r} is too complex ({count} parts, at most {MAX_EXPRESSION_NODES})"
        )
    called = {id(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id not in CONSTANTS and id(node) not in called:
            names.add(node.id)
    return Expression(source=source, tree=tree, names=frozenset(names))


class _Evaluator:
    def __init__(self, scope: Mapping[str, Any]) -> None:
        self.scope = scope

    def visit(self, node: ast.expr) -> Any:
        method: Callable[[Any], Any] = getattr(self, f"_{type(node).__name__}")
        return _bounded(method(node))

    def _Constant(self, node: ast.Constant) -> Any:
        return node.value

    def _Name(self, node: ast.Name) -> Any:
        if node.id in CONSTANTS:
            return CONSTANTS[node.id]
        if node.id not in self.scope:
            raise ExpressionError(f"unknown name {node.id!r}")
        return self.scope[node.id]

    def _Attribute(self, node: ast.Attribute) -> Any:
        return _field(self.visit(node.value), node.attr)

    def _Subscript(self, node: ast.Subscript) -> Any:
        container = self.visit(node.value)
        if isinstance(node.slice, ast.Slice):
            raise ExpressionError("slices are not allowed")
        key = self.visit(node.slice)
        if container is None:
            return None
        if isinstance(container, list | tuple | str):
            if not isinstance(key, int) or isinstance(key, bool):
                raise ExpressionError(f"a list index must be an integer, not {_type_name(key)}")
            return container[key]
        if isinstance(container, dict):
            return _field(container, key)
        raise ExpressionError(f"cannot index a {_type_name(container)}")

    def _BinOp(self, node: ast.BinOp) -> Any:
        left, right = self.visit(node.left), self.visit(node.right)
        if isinstance(node.op, ast.Mult) and (
            isinstance(left, str | list) or isinstance(right, str | list)
        ):
            other = right if isinstance(left, str | list) else left
            size = len(left if isinstance(left, str | list) else right)
            if isinstance(other, int) and size * other > MAX_VALUE_LENGTH:
                raise ExpressionError(f"result would be longer than {MAX_VALUE_LENGTH}")
        return _BINARY[type(node.op)](left, right)

    def _UnaryOp(self, node: ast.UnaryOp) -> Any:
        operand = self.visit(node.operand)
        if isinstance(node.op, ast.Not):
            return not operand
        if isinstance(node.op, ast.USub):
            return -operand
        return +operand

    def _BoolOp(self, node: ast.BoolOp) -> Any:
        value: Any = None
        for operand in node.values:
            value = self.visit(operand)
            if isinstance(node.op, ast.And) and not value:
                return value
            if isinstance(node.op, ast.Or) and value:
                return value
        return value

    def _Compare(self, node: ast.Compare) -> bool:
        left = self.visit(node.left)
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right = self.visit(comparator)
            if not _COMPARE[type(op)](left, right):
                return False
            left = right
        return True

    def _IfExp(self, node: ast.IfExp) -> Any:
        return self.visit(node.body) if self.visit(node.test) else self.visit(node.orelse)

    def _Call(self, node: ast.Call) -> Any:
        assert isinstance(node.func, ast.Name)
        return FUNCTIONS[node.func.id](*(self.visit(arg) for arg in node.args))

    def _List(self, node: ast.List) -> list[Any]:
        return [self.visit(item) for item in node.elts]

    def _Tuple(self, node: ast.Tuple) -> list[Any]:
        return [self.visit(item) for item in node.elts]

    def _Dict(self, node: ast.Dict) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        for key, value in zip(node.keys, node.values, strict=True):
            assert key is not None  # '**' was rejected when compiling
            result[self.visit(key)] = self.visit(value)
        return result


def _field(container: Any, key: Any) -> Any:
    # A skipped node's result is null; reading through null stays null, so a convergence
    # node can test `default(a.value, b.value)` whichever branch ran.
    if container is None:
        return None
    if not isinstance(container, dict):
        raise ExpressionError(f"cannot read field {key!r} of a {_type_name(container)}")
    if key not in container:
        known = ", ".join(sorted(map(str, container))[:10]) or "none"
        raise ExpressionError(f"no field {key!r} (fields: {known})")
    return container[key]


def _bounded(value: Any) -> Any:
    if isinstance(value, str | list | dict) and len(value) > MAX_VALUE_LENGTH:
        raise ExpressionError(f"value is longer than {MAX_VALUE_LENGTH}")
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**MAX_INT_DIGITS:
        raise ExpressionError(f"number has more than {MAX_INT_DIGITS} digits")
    if isinstance(value, float) and not math.isfinite(value):
        raise ExpressionError("number is not finite")
    return value


@dataclass(frozen=True)
class Template:
    """A string with `{{ expression }}` parts. A string that is one whole `{{ }}` keeps the
    expression's type (a number stays a number); otherwise parts are joined as text."""

    source: str
    parts: tuple[str | Expression, ...]

    @property
    def names(self) -> frozenset[str]:
        return frozenset().union(*(p.names for p in self.parts if isinstance(p, Expression)))

    def render(self, scope: Mapping[str, Any]) -> Any:
        if (
            len(self.parts) == 1
            and isinstance(self.parts[0], Expression)
            and _WHOLE_TEMPLATE.match(self.source)
        ):
            return self.parts[0].evaluate(scope)
        text = "".join(p if isinstance(p, str) else _to_str(p.evaluate(scope)) for p in self.parts)
        return _bounded(text)


def compile_template(source: str) -> Template:
    if "{{" not in source and "}}" not in source:
        return Template(source=source, parts=(source,))
    parts: list[str | Expression] = []
    position = 0
    for match in _TEMPLATE.finditer(source):
        literal = source[position : match.start()]
        if "{{" in literal or "}}" in literal:
            break
        if literal:
            parts.append(literal)
        parts.append(compile_expression(match.group(1)))
        position = match.end()
    rest = source[position:]
    if "{{" in rest or "}}" in rest:
        raise ExpressionError(f"template {source!r} has an unbalanced '{{{{' or '}}}}'")
    if rest:
        parts.append(rest)
    return Template(source=source, parts=tuple(parts))


def _templates(value: Any) -> list[Template]:
    """Every template inside a JSON value (keys and values of objects, items of lists)."""
    if isinstance(value, str):
        return [compile_template(value)]
    if isinstance(value, dict):
        return [t for k, v in value.items() for t in (*_templates(k), *_templates(v))]
    if isinstance(value, list | tuple):
        return [t for item in value for t in _templates(item)]
    return []


def template_references(value: Any) -> frozenset[str]:
    """The context names the templates inside a JSON value read (raises on a bad template)."""
    return frozenset().union(*(t.names for t in _templates(value)))


def render(value: Any, scope: Mapping[str, Any]) -> Any:
    """A JSON value with every template rendered against `scope`."""
    if isinstance(value, str):
        return compile_template(value).render(scope) if "{{" in value else value
    if isinstance(value, dict):
        return {_to_str(render(k, scope)): render(v, scope) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [render(item, scope) for item in value]
    return value
