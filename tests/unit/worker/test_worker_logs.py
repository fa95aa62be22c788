"""Structured log lines: the Temporal ids lifted out of temporalio's record extras."""

from __future__ import annotations

import json
import logging
from typing import Any

from queuefleet_worker.logs import JsonFormatter, temporal_fields


def _record(**extra: Any) -> logging.LogRecord:
    record = logging.LogRecord("user", logging.INFO, __file__, 1, "did %s", ("work",), None)
    record.__dict__.update(extra)
    return record


def test_activity_records_expose_ids_under_stable_names() -> None:
    record = _record(
        temporal_activity={
            "activity_id": "1",
            "activity_type": "charge",
            "attempt": 3,
            "namespace": "default",
            "task_queue": "orders",
            "workflow_id": "wf-1",
            "workflow_run_id": "run-1",
            "workflow_type": "Order",
        }
    )
    assert temporal_fields(record) == {
        "activity_id": "1",
        "activity_type": "charge",
        "attempt": 3,
        "namespace": "default",
        "task_queue": "orders",
        "workflow_id": "wf-1",
        "run_id": "run-1",
        "workflow_type": "Order",
    }


def test_json_lines_carry_process_fields_and_record_fields() -> None:
    formatter = JsonFormatter(process_fields={"task_queue": "orders", "namespace": "default"})
    line = json.loads(
        formatter.format(
            _record(temporal_workflow={"workflow_id": "wf-1", "run_id": "r", "attempt": 1})
        )
    )
    assert line["message"] == "did work"
    assert (line["task_queue"], line["workflow_id"], line["run_id"]) == ("orders", "wf-1", "r")
    assert json.loads(formatter.format(_record()))["task_queue"] == "orders"
