"""The graph store (versions in PostgreSQL, the store's CLI actions) and entity triggers."""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from queuefleet_cli.main import main
from queuefleet_packs.graphs.registrar import GraphsRegistrar
from queuefleet_packs.graphs.store import EventTrigger, GraphStore, event_workflow_id
from temporalio.client import Client

from testbed.process import Process
from testbed.temporal import TemporalEndpoint
from tests.temporal.packs.helpers import pack_worker

ROOT = Path(__file__).resolve().parents[3]
# The console script next to the interpreter running the tests: what a person runs.
QUEUEFLEET = str(Path(sys.executable).with_name("queuefleet"))


def greeting(word: str = "hello") -> dict[str, Any]:
    return {
        "nodes": [{"name": "say", "type": "transform",
                   "output": {"text": f"{word} {{{{input.event.payload.who}}}}"}}],
        "edges": [{"type": "start", "to": "say"}],
    }  # fmt: skip


async def store_cli(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        QUEUEFLEET, "graph", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=ROOT,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def store_main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """The same command in this process (its own event loop, in a thread): much cheaper."""
    code = await asyncio.to_thread(main, ["graph", *args])
    out, err = capsys.readouterr()
    return code, out, err


async def test_put_get_list_keep_validated_versions(
    database_uri: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second, broken = tmp_path / "g1.json", tmp_path / "g2.json", tmp_path / "bad.json"
    first.write_text(json.dumps(greeting()))
    second.write_text(json.dumps(greeting("hi")))
    broken.write_text(json.dumps({"nodes": [{"name": "x", "type": "nope"}], "edges": []}))
    db = ("--database", database_uri)
    assert await store_cli("put", "greet", str(first), *db) == (
        0, "stored graph 'greet' version 1\n", "",
    )  # fmt: skip
    assert (await store_main(capsys, "put", "greet", str(first), *db))[1] == (
        "stored graph 'greet' version 1\n"  # the same definition keeps its version
    )
    assert (await store_main(capsys, "put", "greet", str(second), *db))[1] == (
        "stored graph 'greet' version 2\n"
    )
    code, out, err = await store_main(capsys, "put", "greet", str(broken), *db)
    assert (code, out) == (2, "")
    assert err.startswith("queuefleet graph: error: graph 'greet' is invalid: graph: 'edges' must")
    assert len(err.splitlines()) == 1
    code, out, _ = await store_main(capsys, "get", "greet", "--version", "1", *db)
    assert (code, json.loads(out)) == (0, greeting())
    assert json.loads((await store_main(capsys, "get", "greet", *db))[1]) == greeting("hi")
    assert (await store_main(capsys, "list", *db))[1] == "greet\tv2\t2 versions\n"
    assert (await store_main(capsys, "get", "greet", "--version", "9", *db))[2] == (
        "queuefleet graph: error: graph 'greet' has no version 9 (latest: 2)\n"
    )
    assert (await store_main(capsys, "get", "nope", *db))[2] == (
        "queuefleet graph: error: no graph named 'nope' in the store\n"
    )


async def test_run_stored_pins_the_version(
    temporal: TemporalEndpoint, temporal_client: Client, task_queue: str, database_uri: str
) -> None:
    store = GraphStore(database_uri)
    await store.put("greet", greeting())
    await store.put("greet", greeting("hi"))
    async with pack_worker(temporal_client, GraphsRegistrar(task_queue=task_queue)):
        code, out, err = await store_cli(
            "run-stored", "greet", "--version", "1", "-i", '{"event": {"payload": {"who": "ana"}}}',
            "-t", task_queue, "--address", temporal.address, "--database", database_uri,
        )  # fmt: skip
    assert code == 0, err
    started, result = out.split("\n", 1)
    assert started.startswith("started 'greet' version 1 id=graph-greet-v1-")
    assert json.loads(result)["results"]["say"] == {"text": "hello ana"}


async def wait_until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 30
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


def events(uri: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(uri, autocommit=True) as conn:
        cursor = conn.execute(sql, list(params))
        return cursor.fetchall() if cursor.description else []


async def test_an_event_starts_its_graph_exactly_once(
    temporal_client: Client, task_queue: str, database_uri: str
) -> None:
    store = GraphStore(database_uri)
    await store.put("greet", greeting())
    await store.bind("customer", "greet", version=1, task_queue=task_queue)
    handled: list[str] = []
    stop = asyncio.Event()
    trigger = EventTrigger(store, temporal_client, on_event=handled.append)
    event_id = uuid.uuid4().hex
    async with pack_worker(temporal_client, GraphsRegistrar(task_queue=task_queue)):
        listening = asyncio.create_task(trigger.run(stop))
        try:
            await wait_until(lambda: _has_table(database_uri), "the trigger to create its tables")
            events(
                database_uri,
                "INSERT INTO entity_events (event_id, entity_type, payload) VALUES (%s, %s, %s)",
                event_id, "customer", json.dumps({"who": "bo"}),
            )  # fmt: skip
            await wait_until(lambda: event_id in handled, "the event to be handled")
            handle = temporal_client.get_workflow_handle(event_workflow_id(event_id))
            result = await handle.result()
            first_run = (await handle.describe()).run_id
            # replays: the same id again is refused by the table; a repeated notification
            # and a restarted trigger catching up start nothing new
            with pytest.raises(psycopg.errors.UniqueViolation):
                events(database_uri, "INSERT INTO entity_events (event_id, entity_type) "
                       "VALUES (%s, 'customer')", event_id)  # fmt: skip
            events(database_uri, "SELECT pg_notify('queuefleet_entity_events', %s)", event_id)
            await wait_until(lambda: handled.count(event_id) == 2, "the repeated notification")
        finally:
            stop.set()
            await asyncio.wait_for(listening, timeout=10)
        await EventTrigger(store, temporal_client)._catch_up()
        assert (await handle.describe()).run_id == first_run
    assert result["results"]["say"] == {"text": "hello bo"}
    assert events(
        database_uri,
        "SELECT workflow_id, graph_name, graph_version, started_at IS NOT NULL "
        "FROM entity_events WHERE event_id = %s", event_id,
    ) == [(event_workflow_id(event_id), "greet", 1, True)]  # fmt: skip


async def test_an_event_without_a_trigger_is_marked_skipped(
    temporal_client: Client, database_uri: str
) -> None:
    store = GraphStore(database_uri)
    await store.put("greet", greeting())  # creates the tables
    event_id = uuid.uuid4().hex
    events(database_uri, "INSERT INTO entity_events (event_id, entity_type) VALUES (%s, 'x')",
           event_id)  # fmt: skip
    assert await EventTrigger(store, temporal_client).handle(event_id) is None
    assert events(
        database_uri, "SELECT skipped, workflow_id FROM entity_events WHERE event_id = %s", event_id
    ) == [("no trigger for entity type 'x'", None)]


def _has_table(uri: str) -> bool:
    return events(uri, "SELECT to_regclass('entity_events') IS NOT NULL") == [(True,)]


async def test_two_trigger_processes_start_each_event_once(
    temporal: TemporalEndpoint, temporal_client: Client, task_queue: str, database_uri: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    store = GraphStore(database_uri)
    await store.put("greet", greeting())
    await store.bind("customer", "greet", task_queue=task_queue)
    followers = [
        Process.start(
            f"triggers-{n}",
            [
                QUEUEFLEET,
                "graph",
                "triggers",
                "--database",
                database_uri,
                "--address",
                temporal.address,
            ],
            log_path=tmp_path / f"triggers-{n}.log",
            cwd=ROOT,
        )
        for n in range(2)
    ]
    try:
        for follower in followers:
            await wait_until(lambda f=follower: "following" in f.log_path.read_text(), "listening")
        ids = [uuid.uuid4().hex for _ in range(5)]
        async with pack_worker(temporal_client, GraphsRegistrar(task_queue=task_queue)):
            for n, event_id in enumerate(ids):
                events(
                    database_uri,
                    "INSERT INTO entity_events (event_id, entity_type, payload) "
                    "VALUES (%s, 'customer', %s)", event_id, json.dumps({"who": f"c{n}"}),
                )  # fmt: skip
            results = [
                await temporal_client.get_workflow_handle(event_workflow_id(e)).result()
                for e in await _started(database_uri, ids)
            ]
    finally:
        for follower in followers:
            assert follower.stop() == 0, follower.log_path.read_text()
    assert [r["results"]["say"]["text"] for r in results] == [f"hello c{n}" for n in range(5)]
    logs = "".join(f.log_path.read_text() for f in followers)
    for event_id in ids:
        assert f"event {event_id}" in logs  # both may see it; one run exists per event


async def _started(uri: str, ids: list[str]) -> list[str]:
    await wait_until(
        lambda: len(events(uri, "SELECT 1 FROM entity_events WHERE event_id = ANY(%s) "
                       "AND started_at IS NOT NULL", ids)) == len(ids),
        "every event to start",
    )  # fmt: skip
    return ids
