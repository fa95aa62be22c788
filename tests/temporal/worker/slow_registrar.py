"""A registrar module that takes seconds to import, as heavy application code can.

It writes the file named by QF_TEST_IMPORTING when its import starts, so a test knows
the worker is inside startup (before the event loop and its signal handlers exist).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from tests.temporal.worker.registrars import SleepRegistrar

Path(os.environ["QF_TEST_IMPORTING"]).write_text("importing")
time.sleep(float(os.environ.get("QF_TEST_IMPORT_SECONDS", "3")))

__all__ = ["SleepRegistrar"]
