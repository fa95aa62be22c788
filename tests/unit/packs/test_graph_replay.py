"""Recorded GraphWorkflow histories replay with the current code (determinism guard).

Each file is named after its workflow id (replay needs it). Recorded by
tests/temporal/packs/test_packs_graphs.py (its replay test writes fresh ones to the test artifacts).
A change that alters the commands a graph produces for the same events fails here; such a
change needs `workflow.patched` or a new workflow type, not a silent edit.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from queuefleet_packs.graphs.workflows import GraphWorkflow
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

HISTORIES = sorted((Path(__file__).parent / "histories").glob("graph-*.json"))


def test_histories_are_present() -> None:
    assert len(HISTORIES) >= 3


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_recorded_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    await Replayer(workflows=[GraphWorkflow]).replay_workflow(history)
