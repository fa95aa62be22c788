"""OpenTelemetry traces through temporalio's TracingInterceptor, exported over OTLP.

Tracing is on only when `OTEL_EXPORTER_OTLP_ENDPOINT` (or the traces-specific endpoint) is
set and `OTEL_SDK_DISABLED` is not true. Otherwise nothing is imported and no interceptor is
installed, so an untraced worker pays nothing. The standard `OTEL_*` variables (service
name, resource attributes, headers, sampler, batch processor) are read by the OpenTelemetry
SDK itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from . import contract
from .settings import SettingsError

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from temporalio.contrib.opentelemetry import TracingInterceptor

__all__ = ["Tracing", "TracingSettings", "start_tracing", "tracing_settings"]

DEFAULT_SERVICE_NAME = "queuefleet-worker"
_PROTOCOLS = ("grpc", "http/protobuf")


@dataclass(frozen=True, kw_only=True)
class TracingSettings:
    protocol: Literal["grpc", "http/protobuf"]


@dataclass(frozen=True)
class Tracing:
    """The tracer provider to flush at exit and the interceptor to give the client."""

    provider: TracerProvider
    interceptor: TracingInterceptor

    def shutdown(self) -> None:
        self.provider.shutdown()  # flushes the spans still in the batch processor


def tracing_settings(environ: Mapping[str, str]) -> TracingSettings | None:
    """None when tracing is off; otherwise the validated exporter choice."""
    if environ.get(contract.ENV_OTEL_SDK_DISABLED, "").strip().lower() == "true":
        return None
    endpoint = environ.get(contract.ENV_OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) or environ.get(
        contract.ENV_OTEL_EXPORTER_OTLP_ENDPOINT
    )
    if not endpoint or not endpoint.strip():
        return None
    for name in (
        contract.ENV_OTEL_EXPORTER_OTLP_TRACES_PROTOCOL,
        contract.ENV_OTEL_EXPORTER_OTLP_PROTOCOL,
    ):
        protocol = environ.get(name, "").strip()
        if protocol:
            if protocol == "http/protobuf":
                return TracingSettings(protocol="http/protobuf")
            if protocol == "grpc":
                return TracingSettings(protocol="grpc")
            raise SettingsError(f"{name} must be one of {', '.join(_PROTOCOLS)}; got {protocol!r}")
    return TracingSettings(protocol="grpc")


def start_tracing(settings: TracingSettings, *, resource_attributes: Mapping[str, str]) -> Tracing:
    """A tracer provider exporting over OTLP, installed globally so user code can add spans."""
    from opentelemetry import trace
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from temporalio.contrib.opentelemetry import TracingInterceptor

    if settings.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # type: ignore[assignment]
            OTLPSpanExporter,
        )

    resource = Resource.create(dict(resource_attributes))
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: DEFAULT_SERVICE_NAME}))
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    return Tracing(provider, TracingInterceptor(provider.get_tracer(__name__)))
