"""Structured logs for the worker process: text for people, JSON for log pipelines.

temporalio's `workflow.logger` and `activity.logger` put a `temporal_workflow` or
`temporal_activity` dict on each record; the formatters here lift workflow id, run id,
activity type, attempt and task queue from it into fields of their own.

A JSON line also carries every `extra=` field of its record and, while an OpenTelemetry span
is current, its `trace_id` and `span_id` in W3C hex form, so a log line leads to its trace.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from opentelemetry import trace
from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter as _PythonJsonFormatter

from .settings import LogFormat

__all__ = [
    "JsonFormatter",
    "TextFormatter",
    "configure_logging",
    "temporal_fields",
    "trace_fields",
]

# Record extras -> the field names we emit. Activity records name the run `workflow_run_id`.
_FIELDS: Mapping[str, Mapping[str, str]] = {
    "temporal_workflow": {
        "workflow_id": "workflow_id",
        "run_id": "run_id",
        "workflow_type": "workflow_type",
        "task_queue": "task_queue",
        "namespace": "namespace",
        "attempt": "attempt",
    },
    "temporal_activity": {
        "workflow_id": "workflow_id",
        "workflow_run_id": "run_id",
        "workflow_type": "workflow_type",
        "activity_id": "activity_id",
        "activity_type": "activity_type",
        "task_queue": "task_queue",
        "namespace": "namespace",
        "attempt": "attempt",
    },
}


def temporal_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The Temporal ids a workflow or activity log record carries, under stable names."""
    fields: dict[str, Any] = {}
    for extra, names in _FIELDS.items():
        details = getattr(record, extra, None)
        if isinstance(details, Mapping):
            fields.update(
                {ours: details[theirs] for theirs, ours in names.items() if theirs in details}
            )
    return fields


# Lifted into fields of their own above; the raw dicts would repeat them.
_LIFTED_EXTRAS: Final = tuple(_FIELDS)


def trace_fields() -> dict[str, str]:
    """The current OpenTelemetry span's ids, or nothing outside a span."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return {}
    return {
        "trace_id": trace.format_trace_id(context.trace_id),
        "span_id": trace.format_span_id(context.span_id),
    }


class JsonFormatter(_PythonJsonFormatter):
    """One JSON object per line: time, level, logger, message, process fields, Temporal ids,
    `extra=` fields, trace ids, exception.

    `process_fields` (e.g. the worker's task queue and namespace) go on every line, so
    lines from the runtime itself can be filtered by queue too.
    """

    def __init__(self, *, process_fields: Mapping[str, str] | None = None) -> None:
        super().__init__(
            reserved_attrs=[*RESERVED_ATTRS, *_LIFTED_EXTRAS],
            rename_fields={"exc_info": "exception", "stack_info": "stack"},
            json_default=str,
        )
        self._process_fields = dict(process_fields or {})

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        log_data.update(
            {
                "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                    timespec="milliseconds"
                ),
                "level": record.levelname,
                "logger": record.name,
                "message": record.message,
                **self._process_fields,
                **temporal_fields(record),
            }
        )
        super().add_fields(log_data, record, message_dict)  # exception, stack, extra= fields
        for key, value in trace_fields().items():
            log_data.setdefault(key, value)  # an explicit extra= trace id wins


class TextFormatter(logging.Formatter):
    """Readable lines; temporalio's loggers already append the Temporal ids to the message."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")


def configure_logging(
    *, log_format: LogFormat, level: str, process_fields: Mapping[str, str] | None = None
) -> None:
    """Send every logger (ours, temporalio's, user code's) to stderr in the chosen format."""
    handler = logging.StreamHandler(sys.stderr)
    formatter: logging.Formatter = (
        JsonFormatter(process_fields=process_fields) if log_format == "json" else TextFormatter()
    )
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    if log_format == "json":
        # The ids become fields of their own; don't repeat them inside the message.
        from temporalio import activity, workflow

        workflow.logger.workflow_info_on_message = False
        activity.logger.activity_info_on_message = False
