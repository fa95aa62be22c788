"""A safe evaluator for graph conditions and `{{ ... }}` templates.

Expressions are parsed with Python's `ast` and only an allow-list of node types is accepted;
evaluation walks that tree itself, so nothing reaches `eval`/`exec`, attributes of Python
objects, builtins, the file system or the environment. `a.b` reads the key "b" of the
mapping `a`, never a Python attribute.

Every operation is priced before it runs: operand sizes (counting shared references, see
`limits.measure`), repetition counts, integer sizes, `round` digits and `%`-format widths
are checked first, and each evaluation has a step budget. A C-level call that could hold
the GIL for long (a huge comparison, `str()` of a repeated list, `10 ** n` inside `round`)
is refused instead of started. Any failure on the data becomes an ExpressionError.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from .limits import MAX_VALUE_ELEMENTS, LimitError, Shape, measure

__all__ = [
    "MAX_EXPRESSION_LENGTH",
    "MAX_TEMPLATE_LENGTH",
    "Expression",
    "ExpressionError",
    "Meter",
    "Template",
    "compile_expression",
    "compile_template",
    "render",
    "template_count",
    "template_references",
]

MAX_EXPRESSION_LENGTH: Final = 500
MAX_EXPRESSION_NODES: Final = 200
MAX_VALUE_LENGTH: Final = 100_000  # longest string or list an expression may build
MAX_INT_DIGITS: Final = 60
_MAX_INT_BITS: Final = 200  # 10**60 needs 200 bits
# A string holding `{{ }}` longer than this is refused (plain text has no such limit).
MAX_TEMPLATE_LENGTH: Final = 20_000
MAX_ROUND_DIGITS: Final = 100
MAX_FORMAT_WIDTH: Final = 1000  # widths and precisions in `'%10.2f' % x`
# Work units (elements visited by comparisons, copies, conversions) per evaluation.
STEP_BUDGET: Final = 2_000_000
_MAX_NUMBER_TEXT: Final = 400  # int('...') and float('...') of longer text is refused


class ExpressionError(ValueError):
    """An expression is malformed, uses something not allowed, or fails on its data."""


def _preview(value: Any, limit: int = 60) -> str:
    """A short repr for messages, never the repr of something huge."""
    if isinstance(value, str):
        text = repr(value[:limit])
        return text if len(value) <= limit else f"{text[:-1]}...' ({len(value)} characters)"
    if isinstance(value, dict | list | tuple):
        return f"a {_type_name(value)} of {len(value)} items"
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 200:
        return "a very large number"
    return repr(value)[:limit]


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
        except (TypeError, ValueError, OverflowError) as error:
            raise ExpressionError(f"cannot convert {_preview(value)} to a number") from error

    return call


def _default(value: Any, fallback: Any) -> Any:
    return fallback if value is None else value


# The only callables an expression can reach, by name (priced by `_Evaluator._price_call`).
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


def _message(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return text if len(text) <= 300 else text[:300] + "..."


@dataclass(frozen=True)
class Expression:
    """A checked expression: its source, its tree and the context names it reads."""

    source: str
    tree: ast.Expression
    names: frozenset[str]

    def evaluate(self, scope: Mapping[str, Any], meter: Meter | None = None) -> Any:
        try:
            return _Evaluator(scope, meter or Meter()).visit(self.tree.body)
        except ExpressionError as error:
            raise ExpressionError(f"{self.source.strip()!r}: {error}") from None
        except LimitError as error:
            raise ExpressionError(f"{self.source.strip()!r}: {error}") from None
        except (MemoryError, RecursionError) as error:
            what = "memory" if isinstance(error, MemoryError) else "stack"
            raise ExpressionError(f"{self.source.strip()!r}: ran out of {what}") from None
        except KeyError as error:  # '%(k)s' % {}
            raise ExpressionError(f"{self.source.strip()!r}: no key {_message(error)}") from None
        except Exception as error:  # ValueError, TypeError, OverflowError... from the data
            raise ExpressionError(f"{self.source.strip()!r}: {_message(error)}") from None


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
    except (ValueError, MemoryError, RecursionError) as error:  # null bytes, deep nesting
        raise ExpressionError(
            f"{source.strip()!r} is not a valid expression: {_message(error)}"
        ) from None
    names: set[str] = set()
    for count, node in enumerate(ast.walk(tree), start=1):
        if count > MAX_EXPRESSION_NODES:
            raise ExpressionError(
                f"{source.strip()!r} is too complex (more than {MAX_EXPRESSION_NODES} parts)"
            )
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
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, int)
            and node.value.bit_length() > _MAX_INT_BITS
        ):
            raise ExpressionError(
                f"{source.strip()!r}: number has more than {MAX_INT_DIGITS} digits"
            )
        if isinstance(node, ast.Dict) and any(key is None for key in node.keys):
            raise ExpressionError(f"{source.strip()!r}: '**' in objects is not allowed")
    called = {id(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id not in CONSTANTS and id(node) not in called:
            names.add(node.id)
    return Expression(source=source, tree=tree, names=frozenset(names))


@dataclass
class Meter:
    """Work done so far by one evaluation (or one render of many templates), and the
    shapes of the values it has measured, so shared data is measured once."""

    budget: int = STEP_BUDGET
    steps: int = 0
    shapes: dict[int, tuple[Shape, Any]] = field(default_factory=dict)

    def charge(self, units: int) -> None:
        self.steps += max(units, 1)
        if self.steps > self.budget:
            raise ExpressionError(f"too much work: more than {self.budget} steps in one evaluation")

    def shape(self, value: Any) -> Shape:
        return measure(value, self.shapes)


class _Evaluator:
    def __init__(self, scope: Mapping[str, Any], meter: Meter) -> None:
        self.scope = scope
        self.meter = meter

    def visit(self, node: ast.expr) -> Any:
        self.meter.charge(1)
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
            if not -len(container) <= key < len(container):
                raise ExpressionError(f"index {key} is out of range ({len(container)} items)")
            return container[key]
        if isinstance(container, dict):
            return _field(container, key)
        raise ExpressionError(f"cannot index a {_type_name(container)}")

    def _BinOp(self, node: ast.BinOp) -> Any:
        left, right = self.visit(node.left), self.visit(node.right)
        self._price_binary(node.op, left, right)
        return _BINARY[type(node.op)](left, right)

    def _price_binary(self, op: ast.operator, left: Any, right: Any) -> None:
        if isinstance(op, ast.Mult):
            sequence, count = (left, right) if isinstance(left, str | list) else (right, left)
            if isinstance(sequence, str | list) and isinstance(count, int):
                times = max(count, 0)
                if len(sequence) * times > MAX_VALUE_LENGTH:
                    raise ExpressionError(f"result would be longer than {MAX_VALUE_LENGTH}")
                if isinstance(sequence, list):
                    elements = (self.meter.shape(sequence).elements - 1) * times
                    if elements > MAX_VALUE_ELEMENTS:
                        raise ExpressionError(
                            f"result would hold more than {MAX_VALUE_ELEMENTS} elements"
                        )
                self.meter.charge(len(sequence) * times)
            elif (
                _is_int(left)
                and _is_int(right)
                and left.bit_length() + right.bit_length() > _MAX_INT_BITS + 1
            ):
                raise ExpressionError(f"number would have more than {MAX_INT_DIGITS} digits")
        elif isinstance(op, ast.Add):
            if (isinstance(left, str) and isinstance(right, str)) or (
                isinstance(left, list) and isinstance(right, list)
            ):
                if len(left) + len(right) > MAX_VALUE_LENGTH:
                    raise ExpressionError(f"result would be longer than {MAX_VALUE_LENGTH}")
                self.meter.charge(len(left) + len(right))
        elif isinstance(op, ast.Mod) and isinstance(left, str):
            self._price_format(left, right)

    def _price_format(self, template: str, arguments: Any) -> None:
        """`'%5s' % x` pads to the width before anything checks the result: bound the widths,
        precisions and argument text first."""
        widths = 0
        for spec in _format_specs(template):
            for number in spec:
                if number == "*":
                    raise ExpressionError("'*' widths in '%' formats are not allowed")
                if len(number) > 4 or int(number) > MAX_FORMAT_WIDTH:
                    raise ExpressionError(
                        f"'%' format widths and precisions are at most {MAX_FORMAT_WIDTH}"
                    )
                widths += int(number)
        estimate = len(template) + widths + self.meter.shape(arguments).text
        if estimate > MAX_VALUE_LENGTH:
            raise ExpressionError(f"formatted text would be longer than {MAX_VALUE_LENGTH}")
        self.meter.charge(estimate)

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
            self._price_compare(op, left, right)
            if not _COMPARE[type(op)](left, right):
                return False
            left = right
        return True

    def _price_compare(self, op: ast.cmpop, left: Any, right: Any) -> None:
        # Measuring raises on anything too large or deep to compare at all.
        size = self.meter.shape(left).elements
        other = self.meter.shape(right).elements
        if isinstance(op, ast.In | ast.NotIn):
            if isinstance(right, str):
                self.meter.charge(len(right) + (len(left) if isinstance(left, str) else 0))
            elif isinstance(right, list | tuple):
                self.meter.charge(other + size * len(right))
            else:
                self.meter.charge(size)
        else:
            self.meter.charge(min(size, other))

    def _IfExp(self, node: ast.IfExp) -> Any:
        return self.visit(node.body) if self.visit(node.test) else self.visit(node.orelse)

    def _Call(self, node: ast.Call) -> Any:
        assert isinstance(node.func, ast.Name)
        arguments = [self.visit(arg) for arg in node.args]
        self._price_call(node.func.id, arguments)
        return FUNCTIONS[node.func.id](*arguments)

    def _price_call(self, name: str, arguments: list[Any]) -> None:
        if name in ("str", "lower", "upper"):
            for argument in arguments:
                shape = self.meter.shape(argument)
                if shape.text > MAX_VALUE_LENGTH:
                    raise ExpressionError(f"{name}() would be longer than {MAX_VALUE_LENGTH}")
                self.meter.charge(shape.text)
        elif (
            name in ("int", "float")
            and arguments
            and isinstance(arguments[0], str)
            and len(arguments[0]) > _MAX_NUMBER_TEXT
        ):
            raise ExpressionError(f"{name}() of text longer than {_MAX_NUMBER_TEXT} characters")
        elif name == "round":
            if len(arguments) > 1 and arguments[1] is not None:
                digits = arguments[1]
                if not _is_int(digits) or abs(digits) > MAX_ROUND_DIGITS:
                    raise ExpressionError(
                        f"round() digits must be an integer from -{MAX_ROUND_DIGITS} "
                        f"to {MAX_ROUND_DIGITS}"
                    )
        elif name in ("min", "max"):
            if not arguments:
                raise ExpressionError(f"{name}() needs at least one argument")
            for argument in arguments:
                self.meter.charge(self.meter.shape(argument).elements)
            if len(arguments) == 1 and not isinstance(arguments[0], str | list | tuple | dict):
                raise ExpressionError(f"{name}() of one value needs a list")
            if len(arguments) == 1 and not arguments[0]:
                raise ExpressionError(f"{name}() of an empty list")

    def _List(self, node: ast.List) -> list[Any]:
        return [self.visit(item) for item in node.elts]

    def _Tuple(self, node: ast.Tuple) -> list[Any]:
        return [self.visit(item) for item in node.elts]

    def _Dict(self, node: ast.Dict) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        for key, value in zip(node.keys, node.values, strict=True):
            assert key is not None  # '**' was rejected when compiling
            name = self.visit(key)
            if not isinstance(name, str | int | float | bool | type(None)):
                raise ExpressionError(
                    f"object keys must be text or numbers, not {_type_name(name)}"
                )
            result[name] = self.visit(value)
        return result


def _format_specs(template: str) -> Iterator[tuple[str, ...]]:
    """The width and precision of each `%` conversion, scanning the text once."""
    position = template.find("%")
    while position != -1:
        index = position + 1
        if template.startswith("(", index):
            close = template.find(")", index)
            if close == -1:
                return  # Python itself refuses it: "incomplete format key"
            index = close + 1
        while index < len(template) and template[index] in "#0- +":
            index += 1
        numbers: list[str] = []
        for leading in ("", "."):
            if leading and not template.startswith(".", index):
                break
            index += len(leading)
            start = index
            if template.startswith("*", index):
                index += 1
            else:
                while index < len(template) and template[index].isdigit():
                    index += 1
            if index > start:
                numbers.append(template[start:index])
        yield tuple(numbers)
        position = template.find("%", index + 1)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _field(container: Any, key: Any) -> Any:
    # A skipped node's result is null; reading through null stays null, so a convergence
    # node can test `default(a.value, b.value)` whichever branch ran.
    if container is None:
        return None
    if not isinstance(container, dict):
        raise ExpressionError(f"cannot read field {_preview(key)} of a {_type_name(container)}")
    try:
        found = key in container
    except TypeError:  # an unhashable key
        raise ExpressionError(f"cannot read field {_preview(key)}") from None
    if not found:
        names = [_preview(str(k), 30) for k in list(container)[:50]]
        known = ", ".join(sorted(n.strip("'") for n in names)[:10]) or "none"
        raise ExpressionError(f"no field {_preview(key)} (fields: {known})")
    return container[key]


def _bounded(value: Any) -> Any:
    if isinstance(value, str | list | dict) and len(value) > MAX_VALUE_LENGTH:
        raise ExpressionError(f"value is longer than {MAX_VALUE_LENGTH}")
    # bit_length first: O(1), and it keeps abs() and 10**60 away from huge numbers
    if _is_int(value) and (value.bit_length() > _MAX_INT_BITS or abs(value) >= 10**MAX_INT_DIGITS):
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

    def render(self, scope: Mapping[str, Any], meter: Meter | None = None) -> Any:
        meter = meter or Meter()
        if (
            len(self.parts) == 1
            and isinstance(self.parts[0], Expression)
            and self.source.startswith("{{")
            and self.source.endswith("}}")
        ):
            return self.parts[0].evaluate(scope, meter)
        pieces: list[str] = []
        length = 0
        for part in self.parts:
            if isinstance(part, Expression):
                value = part.evaluate(scope, meter)
                try:
                    estimate = meter.shape(value).text
                except LimitError as error:
                    raise ExpressionError(f"{part.source.strip()!r}: {error}") from None
                if length + estimate > MAX_VALUE_LENGTH * 2:
                    raise ExpressionError(f"text is longer than {MAX_VALUE_LENGTH}")
                meter.charge(estimate)
                part = _to_str(value)
            pieces.append(part)
            length += len(part)
        return _bounded("".join(pieces))


def compile_template(source: str) -> Template:
    if "{{" not in source and "}}" not in source:
        return Template(source=source, parts=(source,))
    if len(source) > MAX_TEMPLATE_LENGTH:
        raise ExpressionError(
            f"a template is at most {MAX_TEMPLATE_LENGTH} characters, this one has {len(source)}"
        )
    unbalanced = ExpressionError(f"template {_preview(source)} has an unbalanced '{{{{' or '}}}}'")
    # One pass with str.find: each search starts where the last ended, so time is linear.
    parts: list[str | Expression] = []
    position = 0
    while (start := source.find("{{", position)) != -1:
        literal = source[position:start]
        if "}}" in literal:
            raise unbalanced
        end = source.find("}}", start + 2)
        if end == -1 or "{{" in source[start + 2 : end]:
            raise unbalanced
        if literal:
            parts.append(literal)
        parts.append(compile_expression(source[start + 2 : end]))
        position = end + 2
    rest = source[position:]
    if "}}" in rest:
        raise unbalanced
    if rest:
        parts.append(rest)
    return Template(source=source, parts=tuple(parts))


def _strings(value: Any) -> Iterator[str]:
    """Every string inside a JSON value (keys and values of objects, items of lists),
    found without recursion, so nesting depth costs no stack."""
    stack = [value]
    while stack:
        current = stack.pop()
        if isinstance(current, str):
            yield current
        elif isinstance(current, dict):
            for key, item in reversed(list(current.items())):
                stack.append(item)
                stack.append(key)
        elif isinstance(current, list | tuple):
            stack.extend(reversed(current))


def template_references(value: Any) -> frozenset[str]:
    """The context names the templates inside a JSON value read (raises on a bad template)."""
    names: set[str] = set()
    for text in _strings(value):
        if "{{" in text or "}}" in text:
            names |= compile_template(text).names
    return frozenset(names)


def template_count(value: Any) -> int:
    """How many `{{ }}` expressions the strings inside a JSON value hold."""
    return sum(text.count("{{") for text in _strings(value))


def render(value: Any, scope: Mapping[str, Any], meter: Meter | None = None) -> Any:
    """A JSON value with every template rendered against `scope`. The result as a whole is
    measured too: many templates repeating one large value must not add up unchecked."""
    meter = meter or Meter()
    rendered = _render(value, scope, meter)
    try:
        meter.shape(rendered)
    except LimitError as error:
        raise ExpressionError(f"rendered value: {error}") from None
    return rendered


def _render(value: Any, scope: Mapping[str, Any], meter: Meter) -> Any:
    # The validator bounds the nesting of graph values, so this recursion is shallow.
    if isinstance(value, str):
        return compile_template(value).render(scope, meter) if "{{" in value else value
    if isinstance(value, dict):
        return {
            _to_str(_render(k, scope, meter)): _render(v, scope, meter) for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_render(item, scope, meter) for item in value]
    return value
