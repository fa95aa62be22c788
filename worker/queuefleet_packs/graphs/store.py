"""The graph store: named, versioned graph definitions in PostgreSQL, and entity triggers.

`graph_definitions` keeps every version of every graph (validated before it is stored;
putting the same definition again keeps its version). `graph_triggers` binds an entity
type to a graph, pinned to a version or following the latest. `entity_events` receives
events; an insert notifies channel `queuefleet_entity_events`, and `EventTrigger` starts
the bound graph with the event as input under the workflow id `event-<event id>`, so an
event starts at most one run however often it is delivered or replayed. The HTTP trigger
(http_trigger.py) records POSTed events in the same table with `record_event`.
"""

from __future__ import annotations

import asyncio
import contextlib
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from .model import GraphError
from .validator import parse_graph

__all__ = [
    "CHANNEL",
    "SCHEMA",
    "EventConflictError",
    "EventTrigger",
    "GraphStore",
    "GraphStoreError",
    "RecordedEvent",
    "StoredGraph",
    "event_workflow_id",
    "is_bound",
    "record_event",
]

CHANNEL: Final = "queuefleet_entity_events"
SCHEMA: Final = (
    """CREATE TABLE IF NOT EXISTS graph_definitions (
        name       text NOT NULL,
        version    integer NOT NULL,
        definition jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (name, version)
    )""",
    """CREATE TABLE IF NOT EXISTS graph_triggers (
        entity_type   text PRIMARY KEY,
        graph_name    text NOT NULL,
        graph_version integer,
        task_queue    text NOT NULL DEFAULT 'graphs.v1'
    )""",
    """CREATE TABLE IF NOT EXISTS entity_events (
        event_id      text PRIMARY KEY,
        entity_type   text NOT NULL,
        payload       jsonb NOT NULL DEFAULT '{}',
        created_at    timestamptz NOT NULL DEFAULT now(),
        workflow_id   text,
        graph_name    text,
        graph_version integer,
        started_at    timestamptz,
        skipped       text
    )""",
    f"""CREATE OR REPLACE FUNCTION queuefleet_notify_entity_event() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('{CHANNEL}', NEW.event_id);
            RETURN NEW;
        END $$""",
    "DROP TRIGGER IF EXISTS queuefleet_entity_event ON entity_events",
    """CREATE TRIGGER queuefleet_entity_event AFTER INSERT ON entity_events
        FOR EACH ROW EXECUTE FUNCTION queuefleet_notify_entity_event()""",
)
_SCHEMA_LOCK: Final = zlib.crc32(b"queuefleet-graph-store-schema")


class GraphStoreError(ValueError):
    """A graph is missing, invalid, or a trigger cannot be bound; the message says which."""


@dataclass(frozen=True)
class StoredGraph:
    name: str
    version: int
    definition: dict[str, Any]


def event_workflow_id(event_id: str) -> str:
    return f"event-{event_id}"


class GraphStore:
    def __init__(self, uri: str) -> None:
        self.uri = uri
        self._schema_ready = False

    async def _connect(self) -> Any:
        import psycopg

        conn = await psycopg.AsyncConnection.connect(
            self.uri, connect_timeout=10, application_name="queuefleet-graph-store"
        )
        if not self._schema_ready:  # once per store object; the DDL is idempotent
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(%s)", [_SCHEMA_LOCK])
                for statement in SCHEMA:
                    await conn.execute(statement)
            self._schema_ready = True
        return conn

    async def put(self, name: str, definition: Any) -> StoredGraph:
        """Store a new version (validated first); the same definition again keeps its version."""
        from psycopg.types.json import Jsonb

        try:
            parse_graph(definition)
        except GraphError as error:
            raise GraphStoreError(f"graph {name!r} is invalid: {error}") from None
        async with await self._connect() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", [zlib.crc32(name.encode())])
            cursor = await conn.execute(
                "SELECT version, definition FROM graph_definitions WHERE name = %s "
                "ORDER BY version DESC LIMIT 1",
                [name],
            )
            latest = await cursor.fetchone()
            if latest is not None and latest[1] == definition:
                return StoredGraph(name, int(latest[0]), definition)
            version = 1 if latest is None else int(latest[0]) + 1
            await conn.execute(
                "INSERT INTO graph_definitions (name, version, definition) VALUES (%s, %s, %s)",
                [name, version, Jsonb(definition)],
            )
        return StoredGraph(name, version, definition)

    async def get(self, name: str, version: int | None = None) -> StoredGraph:
        async with await self._connect() as conn:
            cursor = await conn.execute(
                "SELECT version, definition FROM graph_definitions WHERE name = %s "
                "AND (%s::int IS NULL OR version = %s::int) ORDER BY version DESC LIMIT 1",
                [name, version, version],
            )
            row = await cursor.fetchone()
            if row is None:
                cursor = await conn.execute(
                    "SELECT max(version) FROM graph_definitions WHERE name = %s", [name]
                )
                latest = (await cursor.fetchone() or [None])[0]
        if row is None:
            if latest is None:
                raise GraphStoreError(f"no graph named {name!r} in the store")
            raise GraphStoreError(f"graph {name!r} has no version {version} (latest: {latest})")
        return StoredGraph(name, int(row[0]), row[1])

    async def list(self) -> list[dict[str, Any]]:
        async with await self._connect() as conn:
            cursor = await conn.execute(
                "SELECT name, max(version), count(*), max(created_at) FROM graph_definitions "
                "GROUP BY name ORDER BY name"
            )
            rows = await cursor.fetchall()
        return [
            {"name": n, "latest_version": v, "versions": c, "updated": u.isoformat()}
            for n, v, c, u in rows
        ]

    async def bind(
        self, entity_type: str, graph: str, *, version: int | None = None,
        task_queue: str = "graphs.v1",
    ) -> None:  # fmt: skip
        """Events of `entity_type` start `graph` (at `version`, or the latest at event time)."""
        await self.get(graph, version)  # the graph (and version) must exist
        async with await self._connect() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO graph_triggers (entity_type, graph_name, graph_version, task_queue) "
                "VALUES (%s, %s, %s, %s) ON CONFLICT (entity_type) DO UPDATE SET "
                "graph_name = EXCLUDED.graph_name, graph_version = EXCLUDED.graph_version, "
                "task_queue = EXCLUDED.task_queue",
                [entity_type, graph, version, task_queue],
            )


@dataclass(frozen=True)
class RecordedEvent:
    event_id: str
    new: bool  # False: the id was known and its entity type and payload are the same


class EventConflictError(GraphStoreError):
    """An event id arrived again with another entity type or payload."""


async def record_event(
    store: GraphStore, event_id: str, entity_type: str, payload: Any
) -> RecordedEvent:
    """Insert an event (notifying the followers); the same event again is not an error."""
    from psycopg.types.json import Jsonb

    async with await store._connect() as conn, conn.transaction():
        cursor = await conn.execute(
            "INSERT INTO entity_events (event_id, entity_type, payload) VALUES (%s, %s, %s) "
            "ON CONFLICT (event_id) DO NOTHING RETURNING event_id",
            [event_id, entity_type, Jsonb(payload)],
        )
        if await cursor.fetchone() is not None:
            return RecordedEvent(event_id, new=True)
        cursor = await conn.execute(
            "SELECT entity_type, payload FROM entity_events WHERE event_id = %s", [event_id]
        )
        known = await cursor.fetchone()
    if known is None or (known[0], known[1]) != (entity_type, payload):
        raise EventConflictError(
            f"event {event_id!r} was already received with another entity type or payload"
        )
    return RecordedEvent(event_id, new=False)


async def is_bound(store: GraphStore, entity_type: str) -> bool:
    async with await store._connect() as conn:
        cursor = await conn.execute(
            "SELECT 1 FROM graph_triggers WHERE entity_type = %s", [entity_type]
        )
        return await cursor.fetchone() is not None


class EventTrigger:
    """Starts the bound graph for each entity event, exactly once per event id.

    On start it catches up with events not started yet, then follows LISTEN/NOTIFY. A
    notification is only a hint: the row is the truth, so a lost or repeated notification
    neither drops nor doubles a run.
    """

    def __init__(
        self, store: GraphStore, client: Client, *, on_event: Callable[[str], None] | None = None
    ) -> None:
        self.store = store
        self.client = client
        self.on_event = on_event  # called with each event id handled (for tests and logs)

    async def run(self, stop: asyncio.Event) -> None:
        import psycopg

        async with await self.store._connect() as listener:
            await listener.set_autocommit(True)
            await listener.execute(f"LISTEN {CHANNEL}")
            await self._catch_up()
            notifies = listener.notifies()
            while not stop.is_set():
                next_notify = asyncio.ensure_future(anext(notifies))
                stopping = asyncio.ensure_future(stop.wait())
                done, _ = await asyncio.wait(
                    {next_notify, stopping}, return_when=asyncio.FIRST_COMPLETED
                )
                if next_notify not in done:
                    next_notify.cancel()
                    break
                stopping.cancel()
                try:
                    notify = next_notify.result()
                except (StopAsyncIteration, psycopg.OperationalError):
                    break
                await self.handle(notify.payload)

    async def _catch_up(self) -> None:
        async with await self.store._connect() as conn:
            cursor = await conn.execute(
                "SELECT event_id FROM entity_events WHERE started_at IS NULL AND skipped IS NULL "
                "ORDER BY created_at"
            )
            pending = [row[0] for row in await cursor.fetchall()]
        for event_id in pending:
            await self.handle(event_id)

    async def handle(self, event_id: str) -> str | None:
        """Start the event's run unless it was; returns the workflow id (None: no trigger)."""
        from .workflows import GraphRunInput, GraphWorkflow

        async with await self.store._connect() as conn:
            cursor = await conn.execute(
                "SELECT e.entity_type, e.payload, e.workflow_id, t.graph_name, t.graph_version, "
                "t.task_queue FROM entity_events e LEFT JOIN graph_triggers t "
                "ON t.entity_type = e.entity_type WHERE e.event_id = %s",
                [event_id],
            )
            row = await cursor.fetchone()
        if row is None:
            return None
        entity_type, payload, started_as, graph_name, graph_version, task_queue = row
        if started_as is not None:
            self._handled(event_id)
            return str(started_as)
        if graph_name is None:
            await self._mark(event_id, skipped=f"no trigger for entity type {entity_type!r}")
            return None
        graph = await self.store.get(graph_name, graph_version)
        workflow_id = event_workflow_id(event_id)
        event = {"event_id": event_id, "entity_type": entity_type, "payload": payload}
        # another trigger (or an earlier attempt of ours) may have started it: exactly once
        with contextlib.suppress(WorkflowAlreadyStartedError):
            await self.client.start_workflow(
                GraphWorkflow.run,
                GraphRunInput(graph=graph.definition, input={"event": event}),
                id=workflow_id,
                task_queue=task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                memo={"graph": graph.name, "graph_version": graph.version},
            )
        await self._mark(event_id, workflow_id=workflow_id, graph=graph)
        self._handled(event_id)
        return workflow_id

    async def _mark(
        self, event_id: str, *, workflow_id: str | None = None, graph: StoredGraph | None = None,
        skipped: str | None = None,
    ) -> None:  # fmt: skip
        async with await self.store._connect() as conn, conn.transaction():
            await conn.execute(
                "UPDATE entity_events SET workflow_id = coalesce(workflow_id, %s), "
                "graph_name = coalesce(graph_name, %s), "
                "graph_version = coalesce(graph_version, %s), "
                "started_at = CASE WHEN %s::text IS NULL THEN started_at "
                "ELSE coalesce(started_at, now()) END, skipped = %s WHERE event_id = %s",
                [workflow_id, graph.name if graph else None, graph.version if graph else None,
                 workflow_id, skipped, event_id],
            )  # fmt: skip
        if skipped:
            self._handled(event_id)

    def _handled(self, event_id: str) -> None:
        if self.on_event is not None:
            self.on_event(event_id)
