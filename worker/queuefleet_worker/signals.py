"""Stop signals that arrive while the worker is still starting.

The event loop's handlers exist only once the SDK runtime is up, a second or more after
start, and KEDA scales a fresh pod away that quickly. Before them, the default action
would end the worker mid-import (or, as PID 1 without an init, the kernel would drop the
signal: the image runs tini for that). This module is imported before anything heavy, so
from then on such a SIGTERM is remembered and the worker stops cleanly before connecting.
"""

from __future__ import annotations

import signal
from types import FrameType

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
_received: list[signal.Signals] = []


def hold_stop_signals() -> None:
    """From now on, remember SIGTERM/SIGINT until the event loop takes them over."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, _remember)


def held_stop_signal() -> signal.Signals | None:
    """The first stop signal received before the loop's handlers, if any."""
    return _received[0] if _received else None


def _remember(signum: int, _frame: FrameType | None) -> None:
    _received.append(signal.Signals(signum))
