"""Run clean-up work inside a workflow so that cancelling the workflow cannot abandon it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

__all__ = ["shielded"]

T = TypeVar("T")


async def shielded(work: Awaitable[T]) -> T:
    """Finish `work` even when the workflow is cancelled (again) while it runs.

    The work runs as its own task, which a cancellation of the caller does not reach; each
    further cancellation request only interrupts the wait, and the wait starts over, so
    the loop ends when the work does.
    """
    task = asyncio.ensure_future(work)
    while True:
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.done():
                raise
