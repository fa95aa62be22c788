"""Watching status over time from outside the operator, for failover tests."""

from __future__ import annotations

import json
import subprocess
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable

Kubectl = Callable[..., subprocess.CompletedProcess[str]]


class GenerationAudit:
    """Polls the queues' status.observedGeneration and keeps every value, in order.

    `kubectl` is a Cluster's or a KindRelease's (it takes `check=False`); `names` limits the
    audit to those queues (default: every queue of the namespace).
    """

    def __init__(self, kubectl: Kubectl, namespace: str, names: Iterable[str] | None = None):
        self._kubectl, self._namespace = kubectl, namespace
        self._names = None if names is None else set(names)
        self.seen: dict[str, list[int]] = defaultdict(list)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="generation audit")

    def __enter__(self) -> GenerationAudit:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.wait(0.3):
            result = self._kubectl(
                "--namespace", self._namespace, "get", "workflowqueues", "-o", "json", check=False
            )
            if result.returncode != 0:
                continue
            for item in json.loads(result.stdout)["items"]:
                name = item["metadata"]["name"]
                observed = (item.get("status") or {}).get("observedGeneration")
                if observed is not None and (self._names is None or name in self._names):
                    self.seen[name].append(int(observed))

    def backwards(self) -> dict[str, list[int]]:
        """The queues whose observedGeneration ever stepped back, with what was seen."""
        return {name: seen for name, seen in self.seen.items() if seen != sorted(seen)}
