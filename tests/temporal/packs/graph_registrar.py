"""The graph pack's registrar on the test's own task queue, for real `queuefleet worker`s.

A test starts the worker with `--registrar tests.temporal.packs.graph_registrar:FreshQueueGraphs`
and `QF_TEST_TASK_QUEUE` set, as tests/temporal/worker/registrars.py does for its own.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from queuefleet_packs.graphs.registrar import GraphsRegistrar

from tests.temporal.worker.registrars import TASK_QUEUE_VARIABLE


@dataclass(frozen=True)
class FreshQueueGraphs(GraphsRegistrar):
    task_queue: str = field(default_factory=lambda: os.environ[TASK_QUEUE_VARIABLE])
