"""Structured log lines: the Temporal ids lifted out of temporalio's record extras, `extra=`
fields, and the trace ids of the current OpenTelemetry span."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from queuefleet_worker.logs import JsonFormatter, configure_logging, temporal_fields


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


def test_extra_fields_are_kept_and_the_raw_temporal_dicts_are_not_repeated() -> None:
    formatter = JsonFormatter()
    line = json.loads(
        formatter.format(
            _record(
                order_id="o-7",
                amounts={"total": 12.5},
                temporal_workflow={"workflow_id": "wf-1", "run_id": "r"},
            )
        )
    )
    assert (line["order_id"], line["amounts"]) == ("o-7", {"total": 12.5})
    assert "temporal_workflow" not in line
    assert list(line)[:4] == ["time", "level", "logger", "message"]
    assert "trace_id" not in line  # no span is current


def test_lines_written_inside_a_span_carry_its_trace_and_span_ids() -> None:
    provider = TracerProvider()
    formatter = JsonFormatter()
    with provider.get_tracer(__name__).start_as_current_span("work") as span:
        context = span.get_span_context()
        try:
            raise ValueError("bad input")
        except ValueError:
            record = _record(exc_info=sys.exc_info())
            line = json.loads(formatter.format(record))
    assert line["trace_id"] == f"{context.trace_id:032x}"
    assert line["span_id"] == f"{context.span_id:016x}"
    assert line["exception"].splitlines()[-1] == "ValueError: bad input"
    provider.shutdown()


def test_the_worker_logger_writes_json_with_extras(capsys: pytest.CaptureFixture[str]) -> None:
    from temporalio import activity, workflow

    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    on_message = (
        workflow.logger.workflow_info_on_message,
        activity.logger.activity_info_on_message,
    )
    try:
        configure_logging(log_format="json", level="INFO", process_fields={"task_queue": "orders"})
        logging.getLogger("user.code").info("charged %s", "card", extra={"amount": 3})
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])
        workflow.logger.workflow_info_on_message, activity.logger.activity_info_on_message = (
            on_message
        )
    [line] = [json.loads(text) for text in capsys.readouterr().err.splitlines()]
    assert {k: line[k] for k in ("logger", "message", "task_queue", "amount")} == {
        "logger": "user.code",
        "message": "charged card",
        "task_queue": "orders",
        "amount": 3,
    }
