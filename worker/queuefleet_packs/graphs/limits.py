"""Sizes a graph run must stay within, measured without ever building anything too big.

`measure` walks a value iteratively (no recursion, however deep) and counts repeated
references as often as they appear, so `[[x] * 1000] * 1000` is a million elements even
though it takes little memory: that is what `json.dumps`, `str()` and comparisons would
have to visit. Everything that encodes, compares or prints a value asks `measure` first.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Final

__all__ = [
    "CARRIED_CONTEXT_BYTES",
    "MAX_VALUE_DEPTH",
    "MAX_VALUE_ELEMENTS",
    "PAYLOAD_LIMIT_BYTES",
    "LimitError",
    "Shape",
    "encoded_size",
    "fit_result",
    "fit_result_sized",
    "measure",
    "result_size",
]

# Temporal refuses a payload above 2 MiB (the server's blob size limit) and retries the
# workflow task forever; the carried context stays well below it, leaving room for the
# graph's node states, names and the envelope of Continue-As-New input and the result.
PAYLOAD_LIMIT_BYTES: Final = 2 * 1024 * 1024
CARRIED_CONTEXT_BYTES: Final = 1536 * 1024
# What any one value may hold, counting nested items and repeats.
MAX_VALUE_ELEMENTS: Final = 1_000_000
# Nesting deeper than this is refused: JSON encoders and comparisons recurse in C.
MAX_VALUE_DEPTH: Final = 64
# An estimate of its text larger than this is refused before any text is built.
MAX_VALUE_TEXT: Final = 8 * 1024 * 1024


class LimitError(ValueError):
    """A value is larger or deeper than a graph may handle; the message names the limit."""


@dataclass(frozen=True, slots=True)
class Shape:
    elements: int  # containers and scalars, repeats counted
    text: int  # an estimate of its JSON or str() length
    depth: int  # 0 for a scalar


def _leaf(value: Any) -> Shape:
    if isinstance(value, str):
        return Shape(1, len(value) + 2, 0)
    if isinstance(value, bool) or value is None:
        return Shape(1, 5, 0)
    if isinstance(value, int):
        return Shape(1, value.bit_length() // 3 + 2, 0)
    return Shape(1, 24, 0)


def measure(
    value: Any,
    memo: dict[int, tuple[Shape, Any]] | None = None,
    *,
    max_elements: int = MAX_VALUE_ELEMENTS,
    max_depth: int = MAX_VALUE_DEPTH,
    max_text: int = MAX_VALUE_TEXT,
) -> Shape:
    """The shape of `value`; LimitError as soon as it passes a limit. `memo` (keyed by
    object id, holding the object so the id stays valid) lets repeated calls over shared
    data cost nothing after the first."""
    if not isinstance(value, dict | list | tuple):
        return _leaf(value)
    memo = {} if memo is None else memo
    containers = _CONTAINERS
    stack: list[tuple[Any, bool, int]] = [(value, False, 1)]
    push = stack.append
    while stack:
        current, expanded, level = stack.pop()
        key = id(current)
        if key in memo:
            continue
        # a dict's keys and values are measured alike: both are encoded and compared
        parts: Any = (*current.keys(), *current.values()) if type(current) is dict else current
        if not expanded:
            if level > max_depth:
                raise LimitError(f"value is nested more than {max_depth} levels deep")
            push((current, True, level))
            for part in parts:
                if type(part) in containers and id(part) not in memo:
                    push((part, False, level + 1))
            continue
        elements, text, depth = 1 + len(parts), 1 + len(parts), 1
        for part in parts:
            kind = type(part)
            if kind is str:
                text += len(part) + 2
            elif kind is int:
                text += part.bit_length() // 3 + 2
            elif kind in containers:
                shape = memo[id(part)][0]
                elements += shape.elements - 1
                text += shape.text
                if shape.depth >= depth:
                    depth = shape.depth + 1
            else:
                text += _leaf(part).text
        if depth > max_depth:
            raise LimitError(f"value is nested more than {max_depth} levels deep")
        if elements > max_elements:
            raise LimitError(f"value holds more than {max_elements} elements")
        if text > max_text:
            raise LimitError(f"value would take more than {max_text} bytes as text")
        memo[key] = (Shape(elements, text, depth), current)
    return memo[id(value)][0]


_CONTAINERS: Final = frozenset({dict, list, tuple})


def _canonical(value: Any) -> bytes:
    measure(value)  # bounded before json.dumps walks it
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str).encode()
    except (TypeError, ValueError, RecursionError) as error:
        raise LimitError(f"value cannot be encoded as JSON: {error}") from None


def result_size(value: Any) -> int:
    return len(_canonical(value))


def encoded_size(value: Any) -> int:
    """Bytes of `value` as compact JSON (LimitError if it is too large to encode)."""
    return len(_canonical(value))


def fit_result(value: Any, max_bytes: int) -> Any:
    """`value` itself when its JSON fits in `max_bytes`; otherwise a summary that does:
    the size, a sha256 of the full JSON (to match it against the source) and a preview.
    LimitError when the value is too large or deep to encode at all."""
    return fit_result_sized(value, max_bytes)[0]


def fit_result_sized(value: Any, max_bytes: int) -> tuple[Any, int]:
    """`fit_result` and the JSON size of what it returns."""
    encoded = _canonical(value)
    if len(encoded) <= max_bytes:
        return value, len(encoded)
    summary = {
        "truncated": True,
        "size_bytes": len(encoded),
        "sha256": hashlib.sha256(encoded).hexdigest(),
        "preview": encoded[: max_bytes // 2].decode("utf-8", "ignore"),
    }
    return summary, len(_canonical(summary))
