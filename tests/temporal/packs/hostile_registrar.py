"""The graphs pack on the test's own task queue, for a real `queuefleet worker` process.

`--registrar tests.temporal.packs.hostile_registrar:registrar` with QF_TEST_TASK_QUEUE set.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from queuefleet_packs.graphs.registrar import GraphsRegistrar
from queuefleet_worker.registry import Contribution, RegistrarContext

from tests.temporal.worker.registrars import TASK_QUEUE_VARIABLE


@dataclass(frozen=True)
class _OwnQueueGraphs:
    @property
    def task_queue(self) -> str:
        return os.environ[TASK_QUEUE_VARIABLE]

    def register(self, context: RegistrarContext) -> Contribution:
        return GraphsRegistrar(task_queue=self.task_queue).register(context)


registrar = _OwnQueueGraphs()
