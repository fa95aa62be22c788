"""A work queue of keys, as in controller-runtime: add / add_after / get / done, plus
add_unless.

A key is waiting at most once however often it is added; a key being processed is not
handed out again until `done`, and one added meanwhile is queued again at `done` (its pass
may have started from stale state). `add_after` debounces: additions during the delay share
one entry, and its `unless` is asked when the delay ends, or, if the key is being processed
then, at `done` (only then is known what that pass saw); `add_unless` is the same without
the delay. `pause` stops `get` from handing out keys (nothing is lost) until `resume`.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["Item", "WorkQueue"]

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class Item(Generic[K]):
    key: K
    trigger: str  # what asked for it first
    waited_seconds: float


class WorkQueue(Generic[K]):
    def __init__(self) -> None:
        self._order: deque[K] = deque()
        self._waiting: dict[K, tuple[str, float]] = {}
        self._processing: set[K] = set()
        self._again: dict[K, str] = {}
        self._again_unless: dict[K, list[tuple[str, Callable[[], bool]]]] = {}
        self._delayed: dict[K, asyncio.TimerHandle] = {}
        self._changed = asyncio.Event()
        self._running = asyncio.Event()
        self._running.set()

    def add(self, key: K, *, trigger: str) -> None:
        if key in self._waiting:
            return
        if key in self._processing:
            self._again.setdefault(key, trigger)
            return
        self._waiting[key] = (trigger, time.perf_counter())
        self._order.append(key)
        self._changed.set()

    def add_after(
        self,
        key: K,
        *,
        trigger: str,
        delay: float,
        unless: Callable[[], bool] | None = None,
    ) -> None:
        """Add `key` after `delay`; when `unless()` is true by then, the addition is dropped
        (e.g. a burst of events turned out to change nothing the last pass did not see)."""
        if key in self._delayed or key in self._waiting:
            return

        def due() -> None:
            self._delayed.pop(key, None)
            if unless is None:
                self.add(key, trigger=trigger)
            else:
                self.add_unless(key, trigger=trigger, unless=unless)

        self._delayed[key] = asyncio.get_running_loop().call_later(delay, due)

    def add_unless(self, key: K, *, trigger: str, unless: Callable[[], bool]) -> None:
        """Add `key` now unless `unless()`; while `key` is being processed, that is asked at
        `done` (each such addition for itself: one is dropped only by its own `unless`)."""
        if key in self._processing:
            self._again_unless.setdefault(key, []).append((trigger, unless))
        elif not unless():
            self.add(key, trigger=trigger)

    async def get(self) -> Item[K]:
        """The next key to process (blocks while empty or paused); call `done` after."""
        while True:
            await self._running.wait()
            if self._order:
                key = self._order.popleft()
                trigger, since = self._waiting.pop(key)
                self._processing.add(key)
                return Item(key, trigger, time.perf_counter() - since)
            self._changed.clear()
            await self._changed.wait()

    def done(self, key: K) -> None:
        self._processing.discard(key)
        again = self._again.pop(key, None)
        conditional = self._again_unless.pop(key, [])
        if again is not None:
            self.add(key, trigger=again)
            return
        for trigger, unless in conditional:
            if not unless():
                self.add(key, trigger=trigger)
                return

    def forget(self, key: K) -> None:
        """Drop a key that no longer exists (waiting, delayed or due again)."""
        if self._waiting.pop(key, None) is not None:
            self._order.remove(key)
        handle = self._delayed.pop(key, None)
        if handle is not None:
            handle.cancel()
        self._again.pop(key, None)
        self._again_unless.pop(key, None)

    def pending(self) -> dict[K, str]:
        """Keys waiting (not delayed, not in process), with what asked for them."""
        return {key: trigger for key, (trigger, _) in self._waiting.items()}

    def processing(self) -> frozenset[K]:
        return frozenset(self._processing)

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()
