"""/healthz and /readyz of a real worker through start, Temporal unreachable, and shutdown.

The worker reaches Temporal through a TCP proxy the test controls, so "unreachable" is a
real network failure (the port refuses connections, open streams are cut) while the
session's dev server keeps running for everyone else.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path

from testbed.process import free_port
from testbed.temporal import TemporalEndpoint
from tests.temporal.worker.workerproc import WorkerProcess, eventually, start_worker


class TcpProxy:
    """Forwards 127.0.0.1:port to the Temporal frontend until cut."""

    def __init__(self, port: int, upstream: str) -> None:
        self.port = port
        self.upstream_host, _, upstream_port = upstream.rpartition(":")
        self.upstream_port = int(upstream_port)
        self._server: asyncio.Server | None = None
        self._streams: set[asyncio.StreamWriter] = set()

    async def open(self) -> None:
        self._server = await asyncio.start_server(self._pipe_client, "127.0.0.1", self.port)

    async def cut(self) -> None:
        """Refuse new connections and drop the open ones."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._streams):
            writer.transport.abort()
        self._streams.clear()

    async def _pipe_client(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(
                self.upstream_host, self.upstream_port
            )
        except OSError:
            writer.transport.abort()
            return
        self._streams.update({writer, up_writer})
        await asyncio.gather(
            self._copy(reader, up_writer), self._copy(up_reader, writer), return_exceptions=True
        )

    async def _copy(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            self._streams.discard(writer)
            writer.transport.abort()


def _probes(worker: WorkerProcess) -> tuple[int | None, int | None]:
    return worker.status("/healthz"), worker.status("/readyz")


async def test_probes_follow_the_worker_through_start_outage_and_shutdown(
    temporal: TemporalEndpoint, task_queue: str, artifacts: Path
) -> None:
    proxy = TcpProxy(free_port(), temporal.address)
    worker = start_worker(
        name="probes",
        task_queue=task_queue,
        address=f"127.0.0.1:{proxy.port}",
        artifacts=artifacts,
        env={"QUEUEFLEET_GRACEFUL_SHUTDOWN_SECONDS": "5"},
    )
    try:
        # Start, Temporal not reachable yet: alive, not ready.
        await eventually(lambda: _probes(worker) == (200, 503), timeout=20, what="alive, not ready")

        # Temporal becomes reachable: the worker connects and polls.
        await proxy.open()
        await eventually(lambda: _probes(worker) == (200, 200), timeout=30, what="ready")

        # Outage: still alive (restarting the pod would not help), but not ready.
        await proxy.cut()
        await eventually(lambda: _probes(worker) == (200, 503), timeout=15, what="not ready")

        # Back again: ready again, without a restart.
        await proxy.open()
        await eventually(lambda: _probes(worker) == (200, 200), timeout=30, what="ready again")

        # Shutdown: readiness drops, the process drains and exits 0.
        worker.signal(signal.SIGTERM)
        assert await worker.wait_exit(timeout=15) == 0
        assert await asyncio.to_thread(_probes, worker) == (None, None)
    finally:
        worker.process.stop()
        with contextlib.suppress(Exception):
            await proxy.cut()


async def test_sigterm_before_temporal_is_reachable_exits_zero(
    task_queue: str, artifacts: Path
) -> None:
    worker = start_worker(
        name="never-connected",
        task_queue=task_queue,
        address=f"127.0.0.1:{free_port()}",  # nothing listens there
        artifacts=artifacts,
    )
    try:
        await eventually(lambda: _probes(worker) == (200, 503), timeout=20, what="alive, not ready")
        worker.signal(signal.SIGTERM)
        assert await worker.wait_exit(timeout=10) == 0
    finally:
        worker.process.stop()
