"""Printing what read verbs return: text for people, json or jsonl for programs.

Times are RFC 3339 in UTC (`2026-12-01T22:43:05.123Z`) in every format, so a jq filter and a
person read the same value.
"""

from __future__ import annotations

import dataclasses
import enum
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = ["emit", "emit_rows", "key_values", "plain", "rfc3339"]


def rfc3339(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    if moment.tzinfo is None:  # the SDK's datetimes are UTC, naive or not
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def plain(value: Any) -> Any:
    """`value` as JSON-ready data: datetimes as RFC 3339, enums by name, dataclasses as dicts."""
    if isinstance(value, datetime):
        return rfc3339(value)
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, enum.Enum):
        return value.name
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return plain(dataclasses.asdict(value))
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(item) for item in value]
    return value


def _dumps(value: Any, *, indent: int | None) -> str:
    return json.dumps(plain(value), indent=indent, sort_keys=indent is not None, default=str)


def emit(value: Any, output: str, *, text: Callable[[Any], str] | None = None) -> None:
    """One document: `text(value)` (default: indented JSON), indented JSON, or one JSON line."""
    if output == "jsonl":
        print(_dumps(value, indent=None))
    elif output == "json" or text is None:
        print(_dumps(value, indent=2))
    else:
        print(text(plain(value)))


def emit_rows(
    rows: Sequence[Mapping[str, Any]], output: str, *, columns: Sequence[tuple[str, str, int]]
) -> None:
    """A list: a table of `columns` (key, heading, minimum width), a JSON array, or one object
    a line."""
    if output == "json":
        print(_dumps(list(rows), indent=2))
        return
    if output == "jsonl":
        for row in rows:
            print(_dumps(row, indent=None))
        return
    print(" ".join(heading.ljust(width) for _, heading, width in columns).rstrip())
    for row in rows:
        cells = plain(row)
        print(" ".join(_cell(cells.get(key)).ljust(width) for key, _, width in columns).rstrip())


def _cell(value: Any) -> str:
    return "-" if value is None else str(value)


def key_values(value: Mapping[str, Any]) -> str:
    """`key  value` lines, keys aligned, for a describe-style text view."""
    width = max((len(key) for key in value), default=0)
    return "\n".join(f"{key:{width}}  {_cell(item)}" for key, item in value.items())
