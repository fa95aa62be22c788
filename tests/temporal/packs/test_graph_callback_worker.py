"""The callback endpoint inside real `queuefleet worker` processes.

It starts with the worker, answers while the worker drains and is gone when it exits; a
token completes exactly the activity it was issued for, once; a lost callback fails its
node by name. The hand-offs are taken, and the callbacks sent, by processes of their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import signal
import socket
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from queuefleet_packs.graphs.callbacks import CallbackReceiver, CallbackTokens
from queuefleet_packs.graphs.workflows import GraphResult, GraphRunInput, GraphWorkflow
from temporalio.api.enums.v1 import PendingActivityState
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError

from testbed.process import free_port, port_open
from testbed.temporal import TemporalEndpoint
from tests.temporal.packs.helpers import Peer, post_from_another_process, start_peer
from tests.temporal.worker.workerproc import WorkerProcess, eventually, start_worker

REGISTRAR = "tests.temporal.packs.graph_registrar:FreshQueueGraphs"
SECRET = secrets.token_hex(16)
FORGED = ("callback token signature does not match", "malformed callback token")


@pytest.fixture
def recording_peer(tmp_path: Path) -> Iterator[tuple[Peer, Path]]:
    handoffs = tmp_path / "handoffs.jsonl"
    running = start_peer(tmp_path, "--record", str(handoffs))
    yield running, handoffs
    running.process.stop()


def graph_worker(
    name: str, temporal: TemporalEndpoint, task_queue: str, artifacts: Path, peer: Peer,
    *, listen_port: int,
) -> WorkerProcess:  # fmt: skip
    return start_worker(
        name=name, task_queue=task_queue, address=temporal.address, artifacts=artifacts,
        registrar=REGISTRAR,
        env={
            "QUEUEFLEET_GRAPHS_HTTP_ALLOW": f"127.0.0.1:{peer.port}",
            "QUEUEFLEET_GRAPHS_CALLBACK_SECRET": SECRET,
            "QUEUEFLEET_GRAPHS_CALLBACK_LISTEN": f"127.0.0.1:{listen_port}",
            "QUEUEFLEET_GRAPHS_CALLBACK_URL": f"http://127.0.0.1:{listen_port}",
        },
    )  # fmt: skip


def callbacks(*names: str, url: str, timeout: float = 120) -> dict[str, Any]:
    return {
        "nodes": [{"name": n, "type": "callback", "url": f"{url}/charges", "payload": {"n": n},
                   "timeout_seconds": timeout, "retry": {"maximum_attempts": 1}}
                  for n in names],
        "edges": [{"type": "start", "to": n} for n in names],
    }  # fmt: skip


async def start_graph(
    client: Client, task_queue: str, graph: dict[str, Any]
) -> WorkflowHandle[Any, GraphResult]:
    return await client.start_workflow(
        GraphWorkflow.run, GraphRunInput(graph=graph, input={}), id=f"graph-{uuid.uuid4()}",
        task_queue=task_queue, execution_timeout=timedelta(seconds=120),
    )  # fmt: skip


async def handoffs(path: Path, count: int) -> dict[str, dict[str, Any]]:
    def recorded() -> list[str]:
        return path.read_text().splitlines() if path.exists() else []

    await eventually(lambda: len(recorded()) >= count, timeout=30, what=f"{count} hand-offs")
    return {h["node"]: h for h in map(json.loads, recorded())}


async def waiting(handle: WorkflowHandle[Any, Any]) -> int:
    """How many activities of the run are started and waiting for their callback."""
    description = await handle.describe()
    return sum(
        p.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
        for p in description.raw_description.pending_activities
    )


async def until_waiting(handle: WorkflowHandle[Any, Any], count: int) -> None:
    deadline = time.monotonic() + 20
    while (now := await waiting(handle)) != count:
        assert time.monotonic() < deadline, f"{now} activities waiting, expected {count}"
        await asyncio.sleep(0.1)


async def post(url: str, body: Any) -> tuple[int, Any]:
    return await asyncio.to_thread(post_from_another_process, url, body)


async def test_a_token_completes_its_own_activity_once(
    temporal: TemporalEndpoint, temporal_client: Client, task_queue: str, artifacts: Path,
    recording_peer: tuple[Peer, Path],
) -> None:  # fmt: skip
    peer, record = recording_peer
    worker = graph_worker("callbacks", temporal, task_queue, artifacts, peer,
                          listen_port=free_port())  # fmt: skip
    try:
        await worker.wait_ready()
        handle = await start_graph(temporal_client, task_queue,
                                   callbacks("charge", "ship", url=peer.url))  # fmt: skip
        sent = await handoffs(record, 2)
        charge, ship = sent["charge"], sent["ship"]
        assert charge["payload"] == {"n": "charge"}
        assert charge["callback_url"].endswith(f"/callbacks/{charge['token']}")

        # a token whose MAC belongs to another activity, or any other damage: 401
        moved = charge["token"].split(".")[0] + "." + ship["token"].split(".")[1]
        base = charge["callback_url"].removesuffix(charge["token"])
        for forged in (moved, charge["token"][:-3] + "AAA", "not-a-token"):
            status, answer = await post(base + forged, {"result": "stolen"})
            assert status == 401, answer
            assert answer["error"] in FORGED
        assert await waiting(handle) == 2  # nothing was completed by them

        assert await post(charge["callback_url"], {"result": {"paid": 12}}) == (
            200, {"status": "completed"},
        )  # fmt: skip
        # only the activity the token was issued for: ship still waits
        await until_waiting(handle, 1)
        # a replay changes nothing: the same worker remembers it, another replica answers 409
        assert await post(charge["callback_url"], {"result": {"paid": 99}}) == (
            200, {"status": "already completed"},
        )  # fmt: skip
        async with replica(temporal_client) as other:
            status, answer = await post(f"{other.url}/callbacks/{charge['token']}",
                                        {"result": {"paid": 99}})  # fmt: skip
            assert status == 409, answer
            assert "no longer waiting" in answer["error"]

        assert (await post(ship["callback_url"], {"result": "shipped"}))[0] == 200
        result = await handle.result()
        assert result.results == {"charge": {"result": {"paid": 12}}, "ship": {"result": "shipped"}}
        # the tokens (bearer credentials for one activity each) are never logged
        log = "\n".join(worker.log_lines())
        assert charge["token"] not in log
        assert ship["token"] not in log
        assert "started the graphs callback endpoint" in log
    finally:
        worker.process.stop()


@contextlib.asynccontextmanager
async def replica(client: Client) -> AsyncIterator[CallbackReceiver]:
    """Another worker's endpoint (same secret) in this process, for the cross-replica case."""
    receiver = CallbackReceiver(client, CallbackTokens(SECRET.encode()), host="127.0.0.1", port=0)
    await receiver.start()
    try:
        yield receiver
    finally:
        await receiver.stop()


async def test_the_endpoint_stops_with_the_drain_and_the_callback_outlives_its_worker(
    temporal: TemporalEndpoint, temporal_client: Client, task_queue: str, artifacts: Path,
    recording_peer: tuple[Peer, Path],
) -> None:  # fmt: skip
    peer, record = recording_peer
    first_port, second_port = free_port(), free_port()
    first = graph_worker("cb-first", temporal, task_queue, artifacts, peer, listen_port=first_port)
    second = None
    try:
        await first.wait_ready()
        assert port_open(first_port)
        handle = await start_graph(temporal_client, task_queue, callbacks("pay", url=peer.url))
        pay = (await handoffs(record, 1))["pay"]
        assert pay["callback_url"].startswith(f"http://127.0.0.1:{first_port}/")

        second = graph_worker("cb-second", temporal, task_queue, artifacts, peer,
                              listen_port=second_port)  # fmt: skip
        await second.wait_ready()
        first.signal(signal.SIGTERM)
        assert await first.wait_exit(timeout=30) == 0
        assert not port_open(first_port)  # the drain closed the endpoint

        # the external system retries against another replica: completion goes via Temporal
        assert await post(f"http://127.0.0.1:{second_port}/callbacks/{pay['token']}",
                          {"result": "ok"}) == (200, {"status": "completed"})  # fmt: skip
        assert (await handle.result()).results == {"pay": {"result": "ok"}}
    finally:
        first.process.stop()
        if second is not None:
            second.process.stop()


async def test_a_lost_callback_fails_the_node_by_name(
    temporal: TemporalEndpoint, temporal_client: Client, task_queue: str, artifacts: Path,
    recording_peer: tuple[Peer, Path],
) -> None:  # fmt: skip
    peer, record = recording_peer
    worker = graph_worker("cb-lost", temporal, task_queue, artifacts, peer, listen_port=free_port())
    try:
        await worker.wait_ready()
        handle = await start_graph(
            temporal_client, task_queue, callbacks("wait_for_bank", url=peer.url, timeout=1)
        )
        late = (await handoffs(record, 1))["wait_for_bank"]
        with pytest.raises(WorkflowFailureError) as caught:
            await handle.result()
        cause = caught.value.cause
        assert isinstance(cause, ApplicationError)
        assert cause.type == "NodeFailed"
        assert cause.message.startswith("node 'wait_for_bank' failed:")
        assert "timeout" in cause.message.lower()
        # the callback that comes too late is refused and changes nothing
        status, answer = await post(late["callback_url"], {"result": "late"})
        assert status == 409, answer
    finally:
        worker.process.stop()


async def test_a_taken_callback_port_stops_the_worker_with_one_line(
    temporal: TemporalEndpoint, task_queue: str, artifacts: Path, recording_peer: tuple[Peer, Path]
) -> None:
    peer, _ = recording_peer
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        worker = graph_worker("cb-taken", temporal, task_queue, artifacts, peer, listen_port=port)
        try:
            assert await worker.wait_exit(timeout=60) == 2
        finally:
            worker.process.stop()
    errors = [line for line in worker.log_lines() if "error" in line.lower()]
    assert errors == [
        f"queuefleet worker: error: cannot start the graphs callback endpoint: cannot listen on "
        f"127.0.0.1:{port} (QUEUEFLEET_GRAPHS_CALLBACK_LISTEN): Address already in use"
    ], worker.log_lines()
