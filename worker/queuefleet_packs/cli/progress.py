"""The `queuefleet load` progress line on stderr: started vs completed, rate, ETA, and what
the run is waiting for.

On a terminal the line is redrawn in place every second; otherwise (CI logs, pipes) a line
is printed at every tenth of the run and at least every 10 s while nothing moves, so a stuck
run says what it waits for instead of going quiet.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Final

__all__ = ["Tally", "format_eta", "progress_line"]

BAR_WIDTH: Final = 30
QUIET_LOG_SECONDS: Final = 10.0


@dataclass
class Tally:
    """What a load run has done so far; the report and the progress line both read it."""

    total: int
    awaiting_results: bool  # False under --start-only
    task_queue: str
    started: int = 0
    completed: int = 0
    failed: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    began: float = field(default_factory=time.perf_counter)

    @property
    def done(self) -> int:
        """The count the run is measured by: results, or starts under --start-only."""
        return (self.completed if self.awaiting_results else self.started) + self.failed

    def elapsed(self) -> float:
        return time.perf_counter() - self.began


def format_eta(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def progress_line(tally: Tally, elapsed: float) -> str:
    filled = BAR_WIDTH * tally.done // tally.total
    bar = "#" * filled + "." * (BAR_WIDTH - filled)
    parts = [f"[{bar}] started {tally.started}/{tally.total}"]
    if tally.awaiting_results:
        parts.append(f"completed {tally.completed}/{tally.total}")
    parts.append(f"{tally.failed} failed")
    rate = tally.done / elapsed if elapsed > 0 else 0.0
    parts.append(f"{rate:.1f}/s")
    remaining = tally.total - tally.done
    if remaining and rate > 0:
        parts.append(f"ETA {format_eta(remaining / rate)}")
    if remaining and tally.awaiting_results and tally.done == 0 and tally.started:
        parts.append(f"waiting for a worker on task queue {tally.task_queue!r}")
    elif remaining and tally.started + tally.failed == tally.total:
        parts.append(f"waiting for {remaining} results")
    return ", ".join(parts)


class Progress:
    """Draws `progress_line` for a tally on stderr (see the module docstring for when)."""

    def __init__(self, tally: Tally) -> None:
        self.tally, self.tty = tally, sys.stderr.isatty()
        self.last_tenth, self.last_print, self.last_line = -1, time.perf_counter(), ""

    def tick(self) -> None:
        now = time.perf_counter()
        line = progress_line(self.tally, self.tally.elapsed())
        if self.tty:
            print(f"\r{line}\x1b[K", end="", file=sys.stderr, flush=True)
            return
        tenth = 10 * self.tally.done // self.tally.total
        quiet_too_long = now - self.last_print >= QUIET_LOG_SECONDS
        if tenth != self.last_tenth or quiet_too_long:
            self.last_tenth, self.last_print, self.last_line = tenth, now, line
            print(line, file=sys.stderr, flush=True)

    def finish(self) -> None:
        if self.tty:
            self.tick()
            print(file=sys.stderr)
        else:
            line = progress_line(self.tally, self.tally.elapsed())
            if _counts(line) != _counts(self.last_line):
                print(line, file=sys.stderr, flush=True)


def _counts(line: str) -> str:
    """A progress line without its rate and ETA, which change with every redraw."""
    return line.split("/s", 1)[0].rsplit(", ", 1)[0]
