"""Structured logs for the worker process: text for people, JSON for log pipelines.

temporalio's `workflow.logger` and `activity.logger` put a `temporal_workflow` or
`temporal_activity` dict on each record; the formatters here lift workflow id, run id,
activity type, attempt and task queue from it into fields of their own.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from .settings import LogFormat

__all__ = ["JsonFormatter", "TextFormatter", "configure_logging", "temporal_fields"]

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


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, Temporal ids, exception.

    `process_fields` (e.g. the worker's task queue and namespace) go on every line, so
    lines from the runtime itself can be filtered by queue too.
    """

    def __init__(self, *, process_fields: Mapping[str, str] | None = None) -> None:
        super().__init__()
        self._process_fields = dict(process_fields or {})

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **self._process_fields,
        }
        line.update(temporal_fields(record))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


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
