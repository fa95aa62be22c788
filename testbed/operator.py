"""Our operator as a local process, the way its CLI runs in a pod, against a test cluster."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .cluster import Cluster
from .process import Process, free_port, http_ok


@dataclass(frozen=True, kw_only=True)
class OperatorOptions:
    namespace: str  # the one namespace it watches
    temporal_address: str
    temporal_namespace: str = "default"
    temporal_timeout: float = 1
    worker_image: str = "registry.invalid/queuefleet-worker:1.0.0"
    sync_interval: float = 3
    log_format: str = "plain"
    metrics_port: int | None = None  # picked free when None
    python_args: Sequence[str] = ()  # e.g. ("-m", "cProfile", "-o", path)
    # None: --standalone. A name: peer with other replicas through that KopfPeering (which
    # must exist in the namespace), at `priority` (the highest live peer is active).
    peering: str | None = None
    priority: int | None = None
    workers: int | None = None  # --workers; None keeps the operator's default
    extra_args: Sequence[str] = ()  # more `queuefleet operator` flags, e.g. policy settings


def start_operator(
    cluster: Cluster, options: OperatorOptions, *, log_path: Path, cwd: Path | None = None
) -> tuple[Process, int]:
    """Start `queuefleet operator` and wait for liveness; also returns its metrics port."""
    liveness, metrics = free_port(), options.metrics_port or free_port()
    if options.peering is None:
        peering = ["--standalone"]
    else:
        peering = ["--peering", options.peering]
        if options.priority is not None:
            peering += ["--priority", str(options.priority)]
    if options.workers is not None:
        peering += ["--workers", str(options.workers)]
    argv = [
        sys.executable, *options.python_args, "-m", "queuefleet_cli", "operator",
        *peering,
        "--namespace", options.namespace,
        "--temporal-address", options.temporal_address,
        "--temporal-namespace", options.temporal_namespace,
        "--temporal-timeout", str(options.temporal_timeout),
        "--worker-image", options.worker_image,
        "--sync-interval", str(options.sync_interval),
        "--liveness", f"http://127.0.0.1:{liveness}/healthz",
        "--metrics-address", f"127.0.0.1:{metrics}",
        "--log-format", options.log_format,
        *options.extra_args,
    ]  # fmt: skip
    process = Process.start("operator", argv, log_path=log_path, env=cluster.env, cwd=cwd)
    process.wait_until(
        lambda: http_ok(f"http://127.0.0.1:{liveness}/healthz"), timeout=60, what="liveness"
    )
    return process, metrics
