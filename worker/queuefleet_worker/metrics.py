"""One Prometheus endpoint per worker process: Temporal SDK metrics and the runtime's own.

The SDK's metrics are aggregated in its Rust core and exposed by the core's own Prometheus
exporter, bound to a private loopback port. The runtime's `/metrics` handler fetches that
text at scrape time and appends the prometheus-client registry. So recording a metric costs
the workflow path nothing in Python; the only extra work is one loopback request per scrape.
(The alternative, a MetricBuffer drained into prometheus-client, moves every metric update
through Python.)
"""

from __future__ import annotations

import asyncio
import platform
import socket
import urllib.request
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

from prometheus_client import (
    CollectorRegistry,
    Gauge,
    Info,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from .httpserver import Response

if TYPE_CHECKING:
    from temporalio.runtime import Runtime, TelemetryConfig

__all__ = ["RuntimeMetrics", "SdkRuntime", "create_sdk_runtime"]

_LABELS = ("namespace", "task_queue")
_BIND_ATTEMPTS = 5


@dataclass(frozen=True)
class SdkRuntime:
    """The Temporal runtime (one per process) and where its core serves its metrics."""

    runtime: Runtime
    metrics_url: str


def create_sdk_runtime(logging_config: TelemetryConfig | None = None) -> SdkRuntime:
    """A Temporal Runtime whose core exports Prometheus metrics on a private loopback port."""
    from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

    base = logging_config or TelemetryConfig()
    error: Exception | None = None
    for _ in range(_BIND_ATTEMPTS):  # the free port can be taken between probe and bind
        address = f"127.0.0.1:{_free_loopback_port()}"
        telemetry = TelemetryConfig(
            logging=base.logging,
            metrics=PrometheusConfig(bind_address=address),
        )
        try:
            return SdkRuntime(Runtime(telemetry=telemetry), f"http://{address}/metrics")
        except ValueError as bind_error:
            error = bind_error
    raise RuntimeError(f"cannot start the Temporal SDK metrics exporter: {error}")


class RuntimeMetrics:
    """The runtime's own series, labelled with namespace and task queue, plus the SDK's."""

    def __init__(self, *, namespace: str, task_queue: str, sdk_metrics_url: str) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        labels = {"namespace": namespace, "task_queue": task_queue}
        self._sdk_metrics_url = sdk_metrics_url
        Info(
            "queuefleet_worker_build",
            "Versions of the queuefleet worker runtime and what it runs on.",
            _LABELS,
            registry=self.registry,
        ).labels(**labels).info(
            {
                "version": _version("queuefleet"),
                "temporalio_version": _version("temporalio"),
                "python_version": platform.python_version(),
            }
        )
        self.registrars = Gauge(
            "queuefleet_worker_registrars_loaded",
            "Registrars serving this worker's task queue.",
            _LABELS,
            registry=self.registry,
        ).labels(**labels)
        self.workflows = Gauge(
            "queuefleet_worker_workflows_registered",
            "Workflow types this worker runs.",
            _LABELS,
            registry=self.registry,
        ).labels(**labels)
        self.activities = Gauge(
            "queuefleet_worker_activities_registered",
            "Activity types this worker runs.",
            _LABELS,
            registry=self.registry,
        ).labels(**labels)
        self.draining = Gauge(
            "queuefleet_worker_draining",
            "1 while the worker finishes in-flight tasks after SIGTERM.",
            _LABELS,
            registry=self.registry,
        ).labels(**labels)

    async def scrape(self) -> Response:
        """The SDK's exposition followed by the runtime's, as one text document."""
        sdk_text = await asyncio.to_thread(_fetch, self._sdk_metrics_url)
        if sdk_text and not sdk_text.endswith(b"\n"):
            sdk_text += b"\n"
        return Response(200, sdk_text + generate_latest(self.registry), CONTENT_TYPE_LATEST)


def _fetch(url: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - our loopback URL
            return bytes(response.read())
    except OSError:
        # Still serve the runtime's series; a missing SDK block shows up as absent series.
        return b"# Temporal SDK metrics unavailable\n"


def _free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _version(distribution: str) -> str:
    try:
        return version(distribution)
    except PackageNotFoundError:
        return "unknown"
