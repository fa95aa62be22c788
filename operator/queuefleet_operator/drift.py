"""Drift: has someone changed a field the operator sets, since the operator last applied it?

Only the fields of our own manifest count. An HPA or KEDA writing `spec.replicas` (not in
the manifest when KEDA scales), `kubectl rollout restart` adding a pod-template annotation,
the API server defaulting fields we leave out, controllers writing status: none of these is
drift. A hand-edited image, probe or env value is.

The live object is *projected* onto the shape of the desired manifest (keys we set, list
items matched by `name` where they have one), and that projection is hashed. Right after an
apply the operator records the hash of the apply response's projection; a later projection
with another hash means a field we own was changed. Comparing with the response rather than
with the manifest makes the API server's normalisation (e.g. quantities) a non-event.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

__all__ = ["fingerprint", "project", "subset_matches"]

_MISSING = "<missing>"


def project(live: Any, desired: Any) -> Any:
    """`live` cut down to the shape of `desired` (missing parts become a marker)."""
    if isinstance(desired, Mapping):
        if not isinstance(live, Mapping):
            return _MISSING
        return {key: project(live.get(key, _MISSING), value) for key, value in desired.items()}
    if isinstance(desired, list):
        if not isinstance(live, list):
            return _MISSING
        named = _by_name(live)
        projected = []
        for index, item in enumerate(desired):
            name = item.get("name") if isinstance(item, Mapping) else None
            if name is not None and named is not None:
                match = named.get(name, _MISSING)
            else:
                match = live[index] if index < len(live) else _MISSING
            projected.append(project(match, item))
        return projected
    return live


def fingerprint(live: Mapping[str, Any], desired: Mapping[str, Any]) -> str:
    """Hash of the live object's values at the fields `desired` sets."""
    shape = {key: value for key, value in desired.items() if key != "status"}
    canonical = json.dumps(project(live, shape), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def subset_matches(live: Any, desired: Any) -> bool:
    """Whether every value `desired` sets is what `live` has (the check with no history)."""
    return bool(project(live, desired) == desired)


def _by_name(items: list[Any]) -> dict[str, Any] | None:
    if not all(isinstance(item, Mapping) and "name" in item for item in items):
        return None
    return {str(item["name"]): item for item in items}
