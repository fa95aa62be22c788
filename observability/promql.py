"""Small PromQL helpers shared by the previews and the tests: resolving a panel's Grafana
variables, and naming the metrics an expression reads."""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = ["VARIABLES", "metric_names", "resolve"]

# The dashboards' query variables; "All" means ".*" (their allValue).
VARIABLES = ("namespace", "task_queue", "pod", "taskqueue")

_VARIABLE = re.compile(r"\$\{?(" + "|".join(VARIABLES) + r")\}?\b")


def resolve(
    expr: str, *, rate_interval: str = "1m", values: Mapping[str, str] | None = None
) -> str:
    """The expression Grafana would send: variables replaced by a regex (default: All)."""
    chosen = values or {}
    expr = expr.replace("$__rate_interval", rate_interval)
    return _VARIABLE.sub(lambda m: chosen.get(m.group(1), ".*"), expr)


_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"')
_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGES = re.compile(r"\[[^\]]*\]")
_LABEL_LISTS = re.compile(
    r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", re.IGNORECASE
)
_IDENTIFIER = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_KEYWORDS = frozenset(
    {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
     "group_left", "group_right", "inf", "nan"}
)  # fmt: skip


def metric_names(expr: str) -> set[str]:
    """Metric names an expression selects (functions, keywords and labels left out)."""
    text = _STRINGS.sub('""', expr)
    text = _MATCHERS.sub(" ", text)
    text = _RANGES.sub(" ", text)
    text = _LABEL_LISTS.sub(" ", text)
    names = set()
    for match in _IDENTIFIER.finditer(text):
        rest = text[match.end() :].lstrip()
        if rest.startswith("("):
            continue  # a function or aggregation
        if match.group().lower() in _KEYWORDS:
            continue
        if match.start() > 0 and (
            text[match.start() - 1].isdigit() or text[match.start() - 1] == "."
        ):
            continue  # part of a number such as 1e3
        names.add(match.group())
    return names
