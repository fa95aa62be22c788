"""Shared by the pack tests: a worker built from a registrar, and a local HTTP service."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from queuefleet_worker.registry import Registrar, RegistrarContext, assemble
from temporalio.client import Client
from temporalio.worker import Worker


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
