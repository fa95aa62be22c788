"""Shared by the pack tests: a worker built from a registrar, a local HTTP service, and
the callback peer (an external system in a process of its own)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from queuefleet_worker.registry import Registrar, RegistrarContext, assemble
from temporalio.client import Client
from temporalio.worker import Worker

from testbed.process import Process

ROOT = Path(__file__).resolve().parents[3]


def pack_worker(
    client: Client, registrar: Registrar, *, environ: Mapping[str, str] | None = None
) -> Worker:
    """A worker serving exactly what the registrar contributes, as the runtime would assemble it."""
    context = RegistrarContext(
        task_queue=registrar.task_queue,
        namespace=client.namespace,
        client=client,
        environ=dict(environ or {}),
    )
    contribution = assemble([registrar], context)
    return Worker(
        client,
        task_queue=registrar.task_queue,
        workflows=list(contribution.workflows),
        activities=list(contribution.activities),
    )


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


Responder = Callable[[Recorded], tuple[int, Any]]


@dataclass
class LocalService:
    """An HTTP service on 127.0.0.1 that records requests and answers from a routing table."""

    port: int
    requests: list[Recorded] = field(default_factory=list)
    routes: dict[str, Responder] = field(default_factory=dict)
    delay_seconds: float = 0.0
    in_flight: int = 0
    max_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def requests_to(self, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.path.split("?")[0] == path]

    def handle(self, recorded: Recorded) -> tuple[int, Any]:
        with self.lock:
            self.requests.append(recorded)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.delay_seconds:
                time.sleep(self.delay_seconds)
            path = recorded.path.split("?")[0]
            for prefix in sorted(self.routes, key=len, reverse=True):
                if path.startswith(prefix):
                    return self.routes[prefix](recorded)
            return 200, {"path": path}
        finally:
            with self.lock:
                self.in_flight -= 1


@contextmanager
def local_service() -> Iterator[LocalService]:
    holder: list[LocalService] = []

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            recorded = Recorded(
                self.command, self.path, dict(self.headers), self.rfile.read(length)
            )
            status, payload = holder[0].handle(recorded)
            data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            self.send_response(status)
            if status in (301, 302):
                self.send_header("Location", str(payload))
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    holder.append(LocalService(port=server.server_address[1]))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield holder[0]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


class Peer:
    """A running `callback_peer`: takes hand-offs and (unless told not to) calls back."""

    def __init__(self, process: Process, port: int) -> None:
        self.process, self.port = process, port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def lines(self) -> list[str]:
        return self.process.log_path.read_text().splitlines()


def start_peer(workdir: Path, *extra: str) -> Peer:
    port_file = workdir / f"peer-{uuid.uuid4().hex[:6]}.port"
    process = Process.start(
        "callback-peer",
        [sys.executable, "-m", "tests.temporal.packs.callback_peer", "--port-file", str(port_file),
         *extra],
        log_path=workdir / f"{port_file.stem}.log", cwd=ROOT,
    )  # fmt: skip
    process.wait_until(lambda: port_file.exists() and port_file.read_text() != "", timeout=20,
                       what="its port")  # fmt: skip
    return Peer(process, int(port_file.read_text()))


def post_from_another_process(
    url: str, body: Any, *, sign_with: str | None = None, skew_seconds: int = 0
) -> tuple[int, Any]:
    """POST `body` as JSON from a separate Python process; its status and parsed answer.

    With `sign_with`, the body carries the X-Queuefleet-Signature the process computes."""
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("QF_TEST_SIGNING_")}
    if sign_with is not None:  # by environment, as a real sender keeps its secret
        env |= {"QF_TEST_SIGNING_SECRET": sign_with, "QF_TEST_SIGNING_SKEW": str(skew_seconds)}
    done = subprocess.run(
        [sys.executable, "-m", "tests.temporal.packs.callback_peer", "--post", url,
         body if isinstance(body, str) else json.dumps(body)],
        capture_output=True, text=True, timeout=30, cwd=ROOT, check=True, env=env,
    )  # fmt: skip
    status, _, answer = done.stdout.strip().partition(" ")
    return int(status), json.loads(answer) if answer else None
