"""Asynchronous completion: a `callback` node completed by a real external process."""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from queuefleet_packs.graphs.callbacks import CallbackReceiver, CallbackTokens, InvalidTokenError
from queuefleet_packs.graphs.registrar import GraphsRegistrar
from queuefleet_packs.graphs.workflows import GraphResult, GraphRunInput, GraphWorkflow
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError

from tests.temporal.packs.helpers import Peer, pack_worker, start_peer

ROOT = Path(__file__).resolve().parents[3]
SECRET = secrets.token_hex(16)


@pytest.fixture
def peer(tmp_path: Path) -> Iterator[Peer]:
    running = start_peer(tmp_path)
    yield running
    running.process.stop()


@pytest.fixture
def silent_peer(tmp_path: Path) -> Iterator[Peer]:
    running = start_peer(tmp_path, "--silent")
    yield running
    running.process.stop()


@pytest.fixture
async def receiver(temporal_client: Client) -> AsyncIterator[CallbackReceiver]:
    endpoint = CallbackReceiver(
        temporal_client, CallbackTokens(SECRET.encode()), host="127.0.0.1", port=0
    )
    await endpoint.start()
    yield endpoint
    await endpoint.stop()


def environ(peer: Peer, receiver: CallbackReceiver) -> dict[str, str]:
    return {
        "QUEUEFLEET_GRAPHS_HTTP_ALLOW": f"127.0.0.1:{peer.port}",
        "QUEUEFLEET_GRAPHS_CALLBACK_SECRET": SECRET,
        "QUEUEFLEET_GRAPHS_CALLBACK_URL": f"http://127.0.0.1:{receiver.port}",
    }


async def run_graph(client: Client, task_queue: str, graph: dict[str, Any],
                    graph_input: dict[str, Any], env: dict[str, str]) -> GraphResult:  # fmt: skip
    async with pack_worker(client, GraphsRegistrar(task_queue=task_queue), environ=env):
        return await client.execute_workflow(
            GraphWorkflow.run,
            GraphRunInput(graph=graph, input=graph_input),
            id=f"graph-{uuid.uuid4()}",
            task_queue=task_queue,
            execution_timeout=timedelta(seconds=60),
        )


async def test_the_external_process_completes_the_node_once(
    temporal_client: Client, task_queue: str, peer: Peer, receiver: CallbackReceiver
) -> None:
    graph = json.loads((ROOT / "examples/graphs/payment-callback.json").read_text())
    result = await run_graph(
        temporal_client, task_queue, graph,
        {"processor": peer.url, "order_id": "o-7", "amount": 12}, environ(peer, receiver),
    )  # fmt: skip
    assert result.results["charge"] == {"result": {"status": "paid", "order": "o-7"}}
    assert result.order == ["charge", "paid", "ship"]
    lines = peer.lines()
    # a tampered token is refused; the real one completes; a repeat changes nothing
    assert lines == [
        "handoff charge",
        "callback tampered 401",
        "callback first 200",
        "callback repeated 200",
    ]


async def test_a_lost_callback_fails_the_node_by_name(
    temporal_client: Client, task_queue: str, silent_peer: Peer, receiver: CallbackReceiver
) -> None:
    graph = {
        "nodes": [{"name": "wait_for_bank", "type": "callback", "url": f"{silent_peer.url}/x",
                   "timeout_seconds": 1, "retry": {"maximum_attempts": 1}}],
        "edges": [{"type": "start", "to": "wait_for_bank"}],
    }  # fmt: skip
    with pytest.raises(WorkflowFailureError) as caught:
        await run_graph(temporal_client, task_queue, graph, {}, environ(silent_peer, receiver))
    cause = caught.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == "NodeFailed"
    assert cause.message.startswith("node 'wait_for_bank' failed:")
    assert "timeout" in cause.message.lower()
    assert silent_peer.lines() == ["handoff wait_for_bank"]


async def test_a_hand_off_off_the_allow_list_is_never_sent(
    temporal_client: Client, task_queue: str, silent_peer: Peer, receiver: CallbackReceiver
) -> None:
    graph = {
        "nodes": [{"name": "w", "type": "callback", "url": f"{silent_peer.url}/x"}],
        "edges": [{"type": "start", "to": "w"}],
    }
    env = {**environ(silent_peer, receiver), "QUEUEFLEET_GRAPHS_HTTP_ALLOW": "api.example.com"}
    with pytest.raises(WorkflowFailureError) as caught:
        await run_graph(temporal_client, task_queue, graph, {}, env)
    assert isinstance(caught.value.cause, ApplicationError)
    assert "is not on the worker's HTTP allow-list" in caught.value.cause.message
    assert silent_peer.lines() == []


async def test_callbacks_must_be_configured(
    temporal_client: Client, task_queue: str, silent_peer: Peer
) -> None:
    graph = {
        "nodes": [{"name": "w", "type": "callback", "url": f"{silent_peer.url}/x"}],
        "edges": [{"type": "start", "to": "w"}],
    }
    env = {"QUEUEFLEET_GRAPHS_HTTP_ALLOW": f"127.0.0.1:{silent_peer.port}"}
    with pytest.raises(WorkflowFailureError) as caught:
        await run_graph(temporal_client, task_queue, graph, {}, env)
    assert isinstance(caught.value.cause, ApplicationError)
    assert caught.value.cause.message == (
        "node 'w' failed: node 'w': callbacks are not configured on this worker "
        "(set QUEUEFLEET_GRAPHS_CALLBACK_SECRET and QUEUEFLEET_GRAPHS_CALLBACK_URL)"
    )
    assert silent_peer.lines() == []


def test_tokens_are_bound_to_their_task_token_and_key() -> None:
    tokens = CallbackTokens(b"k" * 16)
    token = tokens.issue(b"task-token-1")
    assert tokens.verify(token) == b"task-token-1"
    other = tokens.issue(b"task-token-2")
    moved = token.split(".")[0] + "." + other.split(".")[1]  # a valid MAC of another activity
    for bad in (moved, token + "x", "nodot", "", "!!.??"):
        with pytest.raises(InvalidTokenError):
            tokens.verify(bad)
    with pytest.raises(InvalidTokenError):
        CallbackTokens(b"q" * 16).verify(token)
