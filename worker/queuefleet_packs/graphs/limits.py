"""Keep node results inside the graph's size limit, whatever a node returns."""

from __future__ import annotations

import hashlib
import json
from typing import Any

__all__ = ["fit_result", "result_size"]


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str).encode()


def result_size(value: Any) -> int:
    return len(_canonical(value))


def fit_result(value: Any, max_bytes: int) -> Any:
    """`value` itself when its JSON fits in `max_bytes`; otherwise a summary that does:
    the size, a sha256 of the full JSON (to match it against the source) and a preview."""
    encoded = _canonical(value)
    if len(encoded) <= max_bytes:
        return value
    return {
        "truncated": True,
        "size_bytes": len(encoded),
        "sha256": hashlib.sha256(encoded).hexdigest(),
        "preview": encoded[: max_bytes // 2].decode("utf-8", "ignore"),
    }
