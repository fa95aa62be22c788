"""The work queue on its own: dedup, debounce, requeue after done, forget."""

from __future__ import annotations

import asyncio

import pytest
from queuefleet_operator.workqueue import WorkQueue


async def test_a_key_is_waiting_once_and_keeps_its_first_trigger() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add("a", trigger="spec")
    queue.add("a", trigger="child")
    queue.add("b", trigger="child")
    first = await queue.get()
    assert (first.key, first.trigger) == ("a", "spec")
    assert first.waited_seconds >= 0
    assert queue.pending() == {"b": "child"}


async def test_added_while_processing_comes_back_after_done() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add("a", trigger="spec")
    item = await queue.get()
    queue.add("a", trigger="child")
    assert queue.pending() == {}
    assert queue.processing() == {"a"}
    queue.done(item.key)
    assert queue.pending() == {"a": "child"}


async def test_add_after_shares_one_entry_and_forget_cancels_it() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add_after("a", trigger="child", delay=0.01)
    queue.add_after("a", trigger="child", delay=0.01)
    item = await asyncio.wait_for(queue.get(), timeout=1)
    assert item.key == "a"
    queue.done("a")
    assert queue.pending() == {}
    queue.add_after("b", trigger="child", delay=0.01)
    queue.forget("b")
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(queue.get(), timeout=0.1)  # well past the 0.01 s delay


@pytest.mark.parametrize("echo_only", [True, False])
async def test_a_debounce_ending_during_processing_is_decided_at_done(echo_only: bool) -> None:
    """Whether the burst was only an echo of the pass in flight is known when it ends."""
    queue: WorkQueue[str] = WorkQueue()
    queue.add("a", trigger="spec")
    item = await queue.get()
    asked: list[str] = []

    def unless() -> bool:
        asked.append("asked")
        return echo_only

    queue.add_after("a", trigger="child", delay=0.01, unless=unless)
    await asyncio.sleep(0.05)  # asyncio runs the 0.01 s timer first: the delay ended
    assert asked == []
    assert queue.pending() == {}
    queue.done(item.key)
    assert asked == ["asked"]
    assert queue.pending() == ({} if echo_only else {"a": "child"})


async def test_conditional_additions_during_processing_are_each_decided_by_their_own() -> None:
    """A first backlog read the pass already reported must not swallow a child change
    that arrived meanwhile: each conditional addition is dropped only by its own check."""
    queue: WorkQueue[str] = WorkQueue()
    queue.add("a", trigger="spec")
    item = await queue.get()
    queue.add_unless("a", trigger="timer", unless=lambda: True)  # the read was seen
    queue.add_after("a", trigger="child", delay=0.01, unless=lambda: False)  # news
    await asyncio.sleep(0.05)
    queue.done(item.key)
    assert queue.pending() == {"a": "child"}


def test_add_unless_outside_processing_decides_at_once() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add_unless("a", trigger="timer", unless=lambda: True)
    queue.add_unless("b", trigger="timer", unless=lambda: False)
    assert queue.pending() == {"b": "timer"}
