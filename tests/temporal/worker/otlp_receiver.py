"""A real OTLP/gRPC trace receiver on a loopback port, for tests and the benchmark.

It implements the collector's TraceService from opentelemetry-proto and keeps every span
it is sent, flattened to what assertions need.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from testbed.process import free_port


@dataclass(frozen=True)
class ReceivedSpan:
    name: str
    trace_id: str
    span_id: str
    parent_span_id: str  # "" for a root span
    service_name: str
    attributes: dict[str, Any]


class _TraceService(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, receiver: OtlpReceiver) -> None:
        self._receiver = receiver

    def Export(
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: Any
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        self._receiver.add(request)
        return trace_service_pb2.ExportTraceServiceResponse()


class OtlpReceiver:
    """Collects spans; `keep_spans=False` only counts them (for the benchmark)."""

    def __init__(self, *, keep_spans: bool = True) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._keep = keep_spans
        self._lock = threading.Lock()
        self._spans: list[ReceivedSpan] = []
        self.span_count = 0

    def add(self, request: trace_service_pb2.ExportTraceServiceRequest) -> None:
        received: list[ReceivedSpan] = []
        count = 0
        for resource_spans in request.resource_spans:
            resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                count += len(scope_spans.spans)
                if not self._keep:
                    continue
                for span in scope_spans.spans:
                    received.append(
                        ReceivedSpan(
                            name=span.name,
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_span_id=span.parent_span_id.hex(),
                            service_name=resource.get("service.name", ""),
                            attributes={a.key: a.value.string_value for a in span.attributes},
                        )
                    )
        with self._lock:
            self._spans.extend(received)
            self.span_count += count

    def spans(self) -> list[ReceivedSpan]:
        with self._lock:
            return list(self._spans)

    @contextmanager
    def running(self) -> Iterator[OtlpReceiver]:
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(_TraceService(self), server)
        server.add_insecure_port(f"127.0.0.1:{self.port}")
        server.start()
        try:
            yield self
        finally:
            server.stop(grace=None)
