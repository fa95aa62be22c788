"""A real worker's JSON log lines lead to their traces: an activity's line carries the trace
and span ids of the RunActivity span that the OTLP receiver got."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from temporalio.client import Client
from temporalio.contrib.opentelemetry import TracingInterceptor

from testbed.temporal import TemporalEndpoint
from tests.temporal.worker.otlp_receiver import OtlpReceiver
from tests.temporal.worker.registrars import (
    ACTIVITY_LOG_MESSAGE,
    WORKFLOW_LOG_MESSAGE,
    SleepInput,
    SleepReport,
)
from tests.temporal.worker.workerproc import eventually, start_worker


async def test_activity_log_lines_carry_the_ids_of_their_span(
    temporal: TemporalEndpoint, task_queue: str, artifacts: Path
) -> None:
    workflow_id = f"correlated-{uuid.uuid4()}"
    with OtlpReceiver().running() as receiver:
        worker = start_worker(
            name="correlated",
            task_queue=task_queue,
            address=temporal.address,
            artifacts=artifacts,
            env={
                "QUEUEFLEET_LOG_FORMAT": "json",
                "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
                "OTEL_BSP_SCHEDULE_DELAY": "100",
            },
        )
        client_tracing = TracerProvider()
        client_tracing.add_span_processor(
            SimpleSpanProcessor(OTLPSpanExporter(endpoint=receiver.endpoint, insecure=True))
        )
        try:
            await worker.wait_ready()
            client = await Client.connect(
                temporal.address,
                namespace=temporal.namespace,
                interceptors=[TracingInterceptor(client_tracing.get_tracer(__name__))],
            )
            await client.execute_workflow(
                "SleepWorkflow",
                SleepInput(seconds=0),
                id=workflow_id,
                task_queue=task_queue,
                result_type=SleepReport,
                execution_timeout=timedelta(seconds=30),
            )

            def run_activity_span() -> list[tuple[str, str]]:
                return [
                    (s.trace_id, s.span_id)
                    for s in receiver.spans()
                    if s.name == "RunActivity:sleep_then_report"
                    and s.attributes.get("temporalWorkflowID") == workflow_id
                ]

            await eventually(
                lambda: bool(run_activity_span()), timeout=15, what="the RunActivity span"
            )
            [(trace_id, span_id)] = run_activity_span()
        finally:
            client_tracing.shutdown()
            worker.process.stop()

    lines = list(worker.json_logs())
    [activity_line] = [line for line in lines if line["message"] == ACTIVITY_LOG_MESSAGE]
    assert activity_line["workflow_id"] == workflow_id
    assert (activity_line["trace_id"], activity_line["span_id"]) == (trace_id, span_id)
    [workflow_line] = [line for line in lines if line["message"] == WORKFLOW_LOG_MESSAGE]
    assert workflow_line["workflow_id"] == workflow_id
