"""The HTTP trigger of `queuefleet graph triggers --listen`, against real Temporal and
PostgreSQL: signed POSTs from another process start the bound graph once per event."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from queuefleet_packs.graphs.http_trigger import HttpTrigger, TriggerSecret
from queuefleet_packs.graphs.registrar import GraphsRegistrar
from queuefleet_packs.graphs.store import GraphStore
from temporalio.client import Client

from testbed.process import Process
from testbed.temporal import TemporalEndpoint
from tests.temporal.packs.helpers import pack_worker, post_from_another_process

ROOT = Path(__file__).resolve().parents[3]
QUEUEFLEET = str(Path(sys.executable).with_name("queuefleet"))
SECRET = secrets.token_hex(16)
GREET = {
    "nodes": [{"name": "say", "type": "transform",
               "output": {"text": "hello {{input.event.payload.who}}"}}],
    "edges": [{"type": "start", "to": "say"}],
}  # fmt: skip


@pytest.fixture
def trigger_url(temporal: TemporalEndpoint, database_uri: str, tmp_path: Path) -> Iterator[str]:
    """A `graph triggers --listen` process on a free port; yields its /triggers/ base URL."""
    process = Process.start(
        "http-trigger",
        [QUEUEFLEET, "graph", "triggers", "--database", database_uri,
         "--address", temporal.address, "--listen", "127.0.0.1:0"],
        log_path=tmp_path / "http-trigger.log", cwd=ROOT,
        env={"QUEUEFLEET_GRAPHS_TRIGGER_SECRET": SECRET},
    )  # fmt: skip
    found: list[str] = []

    def listening() -> bool:
        found[:] = re.findall(r"taking events at (\S+)<entity type>", process.log_path.read_text())
        return bool(found)

    try:
        process.wait_until(listening, timeout=30, what="the trigger's address")
        yield found[0]
        assert process.stop() == 0, process.log_path.read_text()
        assert SECRET not in process.log_path.read_text()  # never logged
    finally:
        process.stop()


async def post(url: str, body: Any, **signing: Any) -> tuple[int, Any]:
    return await asyncio.to_thread(post_from_another_process, url, body, **signing)


def stored(uri: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(uri) as conn:
        return conn.execute(
            "SELECT event_id, entity_type, payload, workflow_id FROM entity_events ORDER BY 1"
        ).fetchall()


async def test_a_posted_event_starts_its_graph_exactly_once(
    temporal_client: Client, task_queue: str, database_uri: str, trigger_url: str
) -> None:
    store = GraphStore(database_uri)
    await store.put("greet", GREET)
    await store.bind("customer", "greet", task_queue=task_queue)
    event_id = f"crm-{uuid.uuid4().hex}"
    event = {"event_id": event_id, "payload": {"who": "ana"}}
    started = {"status": "started", "event_id": event_id, "workflow_id": f"event-{event_id}"}
    async with pack_worker(temporal_client, GraphsRegistrar(task_queue=task_queue)):
        assert await post(f"{trigger_url}customer", event, sign_with=SECRET) == (202, started)
        handle = temporal_client.get_workflow_handle(f"event-{event_id}")
        result = await handle.result()
        first_run = (await handle.describe()).run_id

        # the sender retries (a new signature, the same event): reported, nothing new runs
        assert await post(f"{trigger_url}customer", event, sign_with=SECRET) == (
            200, {**started, "status": "duplicate"},
        )  # fmt: skip
        assert (await handle.describe()).run_id == first_run

        # the same id with another payload is a conflict, not a second event
        status, answer = await post(
            f"{trigger_url}customer", {**event, "payload": {"who": "eve"}}, sign_with=SECRET
        )
        assert status == 409
        assert answer["error"] == (
            f"event {event_id!r} was already received with another entity type or payload"
        )

        # refused before anything is stored
        other = {"event_id": "crm-other", "payload": {}}
        refusals = [
            (await post(f"{trigger_url}customer", other), 401, "X-Queuefleet-Signature header"),
            (await post(f"{trigger_url}customer", other, sign_with="x" * 32), 401,
             "the signature does not match"),
            (await post(f"{trigger_url}customer", other, sign_with=SECRET, skew_seconds=-900),
             401, "more than 300s off"),
            (await post(f"{trigger_url}supplier", other, sign_with=SECRET), 404,
             "no graph is bound to entity type 'supplier'"),
            (await post(f"{trigger_url}customer", {"payload": {}}, sign_with=SECRET), 400,
             "'event_id' must be a string"),
            (await post(f"{trigger_url}customer", {**other, "tenant": 1}, sign_with=SECRET),
             400, "unknown field 'tenant'"),
            (await post(f"{trigger_url}customer", "[1, 2", sign_with=SECRET), 400,
             "the body must be JSON"),
        ]  # fmt: skip
        for (status, answer), expected_status, fragment in refusals:
            assert status == expected_status, answer
            assert fragment in answer["error"]
    assert result["results"]["say"] == {"text": "hello ana"}
    assert stored(database_uri) == [(event_id, "customer", {"who": "ana"}, f"event-{event_id}")]


async def test_an_event_stored_but_not_started_starts_on_the_replay(
    temporal_client: Client, task_queue: str, database_uri: str
) -> None:
    """The row is the truth: an event stored while Temporal was away starts on the next POST.

    The endpoint runs in this process with no LISTEN/NOTIFY follower, so nothing else can
    start the event first."""
    store = GraphStore(database_uri)
    await store.put("greet", GREET)
    await store.bind("customer", "greet", task_queue=task_queue)
    event_id = f"crm-{uuid.uuid4().hex}"
    with psycopg.connect(database_uri, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO entity_events (event_id, entity_type, payload) VALUES (%s, %s, %s)",
            [event_id, "customer", json.dumps({"who": "bo"})],
        )
    endpoint = HttpTrigger(store, temporal_client, TriggerSecret(SECRET.encode()),
                           host="127.0.0.1", port=0)  # fmt: skip
    await endpoint.start()
    try:
        async with pack_worker(temporal_client, GraphsRegistrar(task_queue=task_queue)):
            status, answer = await post(
                f"{endpoint.url}/triggers/customer",
                {"event_id": event_id, "payload": {"who": "bo"}}, sign_with=SECRET,
            )  # fmt: skip
            assert (status, answer["status"]) == (200, "duplicate")
            result = await temporal_client.get_workflow_handle(answer["workflow_id"]).result()
    finally:
        await endpoint.stop()
    assert result["results"]["say"] == {"text": "hello bo"}
    assert stored(database_uri) == [(event_id, "customer", {"who": "bo"}, f"event-{event_id}")]
