"""The database variant of `make bench-graph`: 200 `database` nodes, one query each.

Same DAG shape as the http variant (four sections of 50 parallel nodes joined by
`transform` nodes), each node reading one row of a small table through the graph's
`database` node. It is compared with a hand-written workflow whose own activity runs the
same queries with psycopg directly (a connection per call, like the node). Both use one
PostgreSQL from the test bed (or QUEUEFLEET_BENCH_POSTGRES_URI) and take turns.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker

with workflow.unsafe.imports_passed_through():
    from queuefleet_packs.graphs.nodes_database import DatabaseActivities, connections_from
    from queuefleet_packs.graphs.workflows import GraphRunInput, GraphWorkflow

    from bench.graph.handwritten import SECTIONS, WIDTH

__all__ = ["HandWrittenDatabaseDag", "build_database_graph", "run_database_rounds", "seed"]

QUERY: Final = "SELECT id, name, price FROM bench_items WHERE id = %s"
ROWS: Final = SECTIONS * WIDTH


def build_database_graph() -> dict[str, Any]:
    nodes: list[dict[str, Any]] = [{"name": "join0", "type": "transform", "output": {"s": 0}}]
    edges: list[dict[str, Any]] = [{"type": "start", "to": "join0"}]
    for section in range(SECTIONS):
        join, next_join = f"join{section}", f"join{section + 1}"
        for i in range(WIDTH):
            name = f"s{section}n{i}"
            nodes.append(
                {
                    "name": name, "type": "database", "connection": "bench", "sql": QUERY,
                    "parameters": [section * WIDTH + i + 1], "max_rows": 1,
                }
            )  # fmt: skip
            edges.append({"type": "parallel", "from": join, "to": name})
            edges.append({"type": "sequence", "from": name, "to": next_join})
        nodes.append({"name": next_join, "type": "transform", "output": {"s": section + 1}})
    return {"name": "bench-database", "nodes": nodes, "edges": edges}


def seed(uri: str) -> None:
    import psycopg

    with psycopg.connect(uri) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_items")
        conn.execute("CREATE TABLE bench_items (id int PRIMARY KEY, name text, price numeric)")
        with conn.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO bench_items VALUES (%s, %s, %s)",
                [(n, f"item {n}", n * 1.5) for n in range(1, ROWS + 1)],
            )


@dataclass
class ItemQuery:
    item_id: int


class HandWrittenQueries:
    def __init__(self, uri: str) -> None:
        self.uri = uri

    @activity.defn(name="bench.read_item")
    async def read_item(self, query: ItemQuery) -> dict[str, Any]:
        import psycopg
        from psycopg.rows import dict_row

        async with await psycopg.AsyncConnection.connect(self.uri) as conn:
            cursor = await conn.execute(QUERY, [query.item_id])
            cursor.row_factory = dict_row
            row = await cursor.fetchone()
        return {"rows": [{k: str(v) for k, v in (row or {}).items()}]}


@workflow.defn(name="HandWrittenDatabaseDag")
class HandWrittenDatabaseDag:
    @workflow.run
    async def run(self) -> int:
        done = 0
        for section in range(SECTIONS):
            calls = [
                workflow.execute_activity(
                    "bench.read_item",
                    ItemQuery(section * WIDTH + i + 1),
                    result_type=dict,
                    start_to_close_timeout=timedelta(seconds=30),
                )
                for i in range(WIDTH)
            ]
            done += len(await asyncio.gather(*calls))
        return done


async def run_database_rounds(client: Client, uri: str, rounds: int) -> list[dict[str, Any]]:
    """Measured runs of both kinds, alternating; round 0 warms up and is not returned."""
    seed(uri)
    task_queue = f"bench-graph-db-{uuid.uuid4()}"
    node_activities = DatabaseActivities(
        connections_from({"QUEUEFLEET_GRAPHS_DATABASE_BENCH": uri})
    )
    hand = HandWrittenQueries(uri)
    graph = build_database_graph()
    runs: list[dict[str, Any]] = []
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[GraphWorkflow, HandWrittenDatabaseDag],
        activities=[node_activities.database_query, hand.read_item],
        max_concurrent_activities=WIDTH * 2,
    ):
        for round_number in range(rounds + 1):
            for kind in ("graph", "hand-written"):
                began = time.perf_counter()
                if kind == "graph":
                    handle = await client.start_workflow(
                        GraphWorkflow.run, GraphRunInput(graph=graph),
                        id=f"bench-db-{uuid.uuid4()}", task_queue=task_queue,
                    )  # fmt: skip
                    result = await handle.result()
                    assert not result.failed, result.failed
                else:
                    handle = await client.start_workflow(
                        HandWrittenDatabaseDag.run, id=f"bench-db-{uuid.uuid4()}",
                        task_queue=task_queue,
                    )  # fmt: skip
                    assert await handle.result() == ROWS
                wall = time.perf_counter() - began
                events = 0
                async for _ in handle.fetch_history_events():
                    events += 1
                if round_number:
                    runs.append(
                        {"kind": kind, "wall_seconds": round(wall, 3), "history_events": events,
                         "round": round_number}
                    )  # fmt: skip
    return runs


WALL_TARGET_RATIO: Final = 1.5


async def database_report(address: str, namespace: str, rounds: int) -> dict[str, Any]:
    """Runs the variant against the test bed's PostgreSQL (or QUEUEFLEET_BENCH_POSTGRES_URI)."""
    import os
    import statistics

    client = await Client.connect(address, namespace=namespace)
    uri = os.environ.get("QUEUEFLEET_BENCH_POSTGRES_URI")
    server = None
    if not uri:
        from testbed.postgres import start_postgres
        from testbed.process import artifacts_dir

        server = start_postgres(artifacts_dir() / "bench-postgres")
        uri = server.endpoint.create_database("bench")
    try:
        runs = await run_database_rounds(client, uri, rounds)
    finally:
        if server is not None:
            server.stop()

    def summary(kind: str) -> dict[str, Any]:
        mine = [r for r in runs if r["kind"] == kind]
        events = statistics.median(r["history_events"] for r in mine)
        return {
            "wall_seconds_median": round(statistics.median(r["wall_seconds"] for r in mine), 3),
            "history_events": events,
            "events_per_activity_node": round(events / ROWS, 2),
        }

    graph, hand = summary("graph"), summary("hand-written")
    ratio = graph["wall_seconds_median"] / hand["wall_seconds_median"]
    return {
        "dag": {"database_nodes": ROWS, "sections": SECTIONS, "parallel_width": WIDTH},
        "graph": graph,
        "hand_written": hand,
        "wall_time_ratio": round(ratio, 3),
        "meets_wall_target": ratio <= WALL_TARGET_RATIO,
        "runs": runs,
    }
