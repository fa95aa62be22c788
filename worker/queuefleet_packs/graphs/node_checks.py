"""Validation of the `database` and `ai_agent` node fields (the validator calls these).

Templates in `parameters`, `prompt` and `system` are checked by the validator itself, like
every other templated field; these checks cover what is particular to each node type.
"""

from __future__ import annotations

import re
from typing import Any, Final

from .model import Node

__all__ = ["check_ai_agent_node", "check_database_node"]

_CONNECTION_NAME: Final = re.compile(r"\A[A-Za-z][A-Za-z0-9_]{0,62}\Z")
MAX_SQL_LENGTH: Final = 100_000
MAX_ROWS: Final = 100_000


def check_database_node(node: Node, problems: list[str]) -> None:
    spec, label = node.spec, f"node {node.name!r}"
    connection = spec.get("connection")
    if not isinstance(connection, str) or not _CONNECTION_NAME.match(connection):
        problems.append(
            f"{label}: 'connection' must name a database configured on the worker "
            f"(QUEUEFLEET_GRAPHS_DATABASE_<NAME>), got {connection!r}"
        )
    sql = spec.get("sql")
    if not isinstance(sql, str) or not sql.strip():
        problems.append(f"{label}: 'sql' must be a non-empty string")
    elif len(sql) > MAX_SQL_LENGTH:
        problems.append(f"{label}: 'sql' is longer than {MAX_SQL_LENGTH} characters")
    elif "{{" in sql or "}}" in sql:
        problems.append(
            f"{label}: 'sql' cannot contain templates; pass values in 'parameters' "
            "and refer to them as %s (list) or %(name)s (object)"
        )
    parameters = spec.get("parameters", [])
    if not isinstance(parameters, list | dict):
        problems.append(
            f"{label}: 'parameters' must be a list (for %s) or an object (for %(name)s)"
        )
    if "max_rows" in spec and not _int_between(spec["max_rows"], 1, MAX_ROWS):
        problems.append(f"{label}: 'max_rows' must be an integer from 1 to {MAX_ROWS}")


def check_ai_agent_node(node: Node, problems: list[str]) -> None:
    spec, label = node.spec, f"node {node.name!r}"
    for key in ("prompt", "system"):
        if key in spec and not isinstance(spec[key], str):
            problems.append(f"{label}: {key!r} must be a string (it may contain templates)")
    if "model" in spec and (not isinstance(spec["model"], str) or not spec["model"].strip()):
        problems.append(f"{label}: 'model' must be a non-empty string")
    if "temperature" in spec and not _number_between(spec["temperature"], 0, 2):
        problems.append(f"{label}: 'temperature' must be a number from 0 to 2")
    if "max_tokens" in spec and not _int_between(spec["max_tokens"], 1, 1_000_000):
        problems.append(f"{label}: 'max_tokens' must be an integer from 1 to 1000000")
    if spec.get("response_format", "text") not in ("text", "json"):
        problems.append(f"{label}: 'response_format' must be 'text' or 'json'")


def _int_between(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _number_between(value: Any, low: float, high: float) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and low <= value <= high
