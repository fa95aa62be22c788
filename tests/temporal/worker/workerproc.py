"""Start real `queuefleet worker` processes for the worker tests, as a pod would run them."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from testbed.process import Process, free_port, http_ok

from .registrars import TASK_QUEUE_VARIABLE

REPO_ROOT = Path(__file__).resolve().parents[3]
SLEEP_REGISTRAR = "tests.temporal.worker.registrars:SleepRegistrar"


def queuefleet_binary() -> str:
    """The console script installed next to the interpreter running the tests."""
    return str(Path(sys.executable).with_name("queuefleet"))


def python_path(*extra: Path) -> str:
    """The repo root (for tests.* registrars) ahead of whatever PYTHONPATH already holds."""
    parts = [str(p) for p in extra] + [str(REPO_ROOT)]
    if os.environ.get("PYTHONPATH"):
        parts.append(os.environ["PYTHONPATH"])
    return os.pathsep.join(parts)


@dataclass
class WorkerProcess:
    process: Process
    task_queue: str
    health_port: int
    metrics_port: int

    @property
    def pid(self) -> int:
        return self.process.popen.pid

    def url(self, path: str) -> str:
        port = self.metrics_port if path == "/metrics" else self.health_port
        return f"http://127.0.0.1:{port}{path}"

    def status(self, path: str) -> int | None:
        """HTTP status of a probe, or None when nothing answers."""
        try:
            with urllib.request.urlopen(self.url(path), timeout=2) as response:
                return int(response.status)
        except urllib.error.HTTPError as error:
            return int(error.code)
        except OSError:
            return None

    def text(self, path: str) -> str:
        with urllib.request.urlopen(self.url(path), timeout=5) as response:
            return str(response.read().decode())

    async def wait_ready(self, timeout: float = 30) -> None:
        await asyncio.to_thread(
            self.process.wait_until,
            lambda: http_ok(self.url("/readyz")),
            timeout=timeout,
            what="/readyz 200",
        )

    def signal(self, signum: signal.Signals) -> None:
        os.kill(self.pid, signum)

    async def wait_exit(self, timeout: float) -> int:
        return int(await asyncio.to_thread(self.process.popen.wait, timeout))

    def log_lines(self) -> list[str]:
        return self.process.log_path.read_text(errors="replace").splitlines()

    def json_logs(self) -> Iterator[dict[str, Any]]:
        for line in self.log_lines():
            if line.startswith("{"):
                yield json.loads(line)


def start_worker(
    *,
    name: str,
    task_queue: str,
    address: str,
    artifacts: Path,
    env: Mapping[str, str] | None = None,
    registrar: str | None = SLEEP_REGISTRAR,
    extra_python_path: tuple[Path, ...] = (),
) -> WorkerProcess:
    """A worker for `task_queue`; `registrar=None` leaves discovery to entry points."""
    health_port, metrics_port = free_port(), free_port()
    argv = [queuefleet_binary(), "worker", "--task-queue", task_queue]
    if registrar is not None:
        argv += ["--registrar", registrar]
    process = Process.start(
        name,
        argv,
        log_path=artifacts / "worker" / f"{name}-{task_queue}.log",
        env={
            "TEMPORAL_ADDRESS": address,
            "TEMPORAL_NAMESPACE": "default",
            "QUEUEFLEET_LISTEN_HOST": "127.0.0.1",
            "QUEUEFLEET_HEALTH_PORT": str(health_port),
            "QUEUEFLEET_METRICS_PORT": str(metrics_port),
            "PYTHONPATH": python_path(*extra_python_path),
            TASK_QUEUE_VARIABLE: task_queue,
            **(env or {}),
        },
        cwd=REPO_ROOT,
    )
    return WorkerProcess(process, task_queue, health_port, metrics_port)


async def eventually(
    check: Callable[[], bool], *, timeout: float, what: str, interval: float = 0.1
) -> None:
    """Wait until `check()` holds; fail naming `what` when the deadline passes.

    The check runs in a thread, so blocking HTTP calls never stall the test's event loop
    (which may be running a client, a worker or a proxy the check depends on).
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await asyncio.to_thread(check):
            return
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
