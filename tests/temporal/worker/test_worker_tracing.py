"""Spans from a traced client and a real worker arrive at an OTLP receiver as one trace."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from temporalio.client import Client
from temporalio.contrib.opentelemetry import TracingInterceptor

from testbed.temporal import TemporalEndpoint
from tests.temporal.worker.otlp_receiver import OtlpReceiver, ReceivedSpan
from tests.temporal.worker.registrars import SleepInput, SleepReport
from tests.temporal.worker.workerproc import eventually, start_worker

EXPECTED = (
    "StartWorkflow:SleepWorkflow",
    "RunWorkflow:SleepWorkflow",
    "StartActivity:sleep_then_report",
    "RunActivity:sleep_then_report",
    "CompleteWorkflow:SleepWorkflow",
)


def _by_name(spans: list[ReceivedSpan], workflow_id: str) -> dict[str, ReceivedSpan]:
    traces = {s.trace_id for s in spans if s.attributes.get("temporalWorkflowID") == workflow_id}
    return {s.name: s for s in spans if s.trace_id in traces}


async def test_client_workflow_and_activity_spans_form_one_trace(
    temporal: TemporalEndpoint, task_queue: str, artifacts: Path
) -> None:
    with OtlpReceiver().running() as receiver:
        worker = start_worker(
            name="traced",
            task_queue=task_queue,
            address=temporal.address,
            artifacts=artifacts,
            env={
                "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
                "OTEL_SERVICE_NAME": "fleet-under-test",
                "OTEL_BSP_SCHEDULE_DELAY": "100",
            },
        )
        client_tracing = TracerProvider(resource=Resource.create({"service.name": "test-client"}))
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
            workflow_id = f"traced-{uuid.uuid4()}"
            await client.execute_workflow(
                "SleepWorkflow",
                SleepInput(seconds=0),
                id=workflow_id,
                task_queue=task_queue,
                result_type=SleepReport,
                execution_timeout=timedelta(seconds=30),
            )
            await eventually(
                lambda: set(EXPECTED) <= set(_by_name(receiver.spans(), workflow_id)),
                timeout=15,
                what=f"spans {EXPECTED}",
            )
        finally:
            client_tracing.shutdown()
            worker.process.stop()

    spans = _by_name(receiver.spans(), workflow_id)
    start, run, schedule, execute, complete = (spans[name] for name in EXPECTED)
    # TracingInterceptor's shape: the workflow's (zero-length) spans hang off the client's
    # span it was started under; the activity's execution hangs off the workflow's
    # StartActivity span.
    assert start.parent_span_id == ""
    assert run.parent_span_id == start.span_id
    assert schedule.parent_span_id == start.span_id
    assert complete.parent_span_id == start.span_id
    assert execute.parent_span_id == schedule.span_id
    assert start.service_name == "test-client"
    # The standard OTEL_* variables reach the worker's tracer provider.
    worker_side = {run.service_name, schedule.service_name, execute.service_name}
    assert worker_side == {"fleet-under-test"}
