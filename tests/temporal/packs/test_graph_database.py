"""The `database` graph node against a real PostgreSQL and the real dev server."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from queuefleet_packs.graphs.registrar import GraphsRegistrar
from queuefleet_packs.graphs.workflows import GraphResult, GraphRunInput, GraphWorkflow
from queuefleet_worker.registry import RegistrarContext, RegistryError, assemble
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError

from testbed.postgres import PostgresEndpoint
from tests.temporal.packs.helpers import pack_worker

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def crm(postgres: PostgresEndpoint) -> str:
    """A fresh database with the tables the customer-lookup example reads; returns its URI."""
    uri = postgres.create_database(f"crm_{uuid.uuid4().hex[:10]}")
    with psycopg.connect(uri) as conn:
        conn.execute("CREATE TABLE customers (id int PRIMARY KEY, name text, tier text)")
        conn.execute(
            "CREATE TABLE orders (id int PRIMARY KEY, customer_id int, total numeric, status text)"
        )
        conn.execute("INSERT INTO customers VALUES (7, 'Ana', 'gold'), (8, 'Bo', 'silver')")
        conn.execute(
            "INSERT INTO orders VALUES (1, 7, 10.5, 'open'), (2, 7, 20, 'open'), "
            "(3, 7, 5, 'closed'), (4, 8, 1, 'open')"
        )
    return uri


async def run_graph(
    client: Client, task_queue: str, graph: dict[str, Any], graph_input: dict[str, Any],
    environ: dict[str, str],
) -> GraphResult:  # fmt: skip
    async with pack_worker(client, GraphsRegistrar(task_queue=task_queue), environ=environ):
        return await client.execute_workflow(
            GraphWorkflow.run,
            GraphRunInput(graph=graph, input=graph_input),
            id=f"graph-{uuid.uuid4()}",
            task_queue=task_queue,
            execution_timeout=timedelta(seconds=60),
        )


def query_graph(**node: Any) -> dict[str, Any]:
    return {
        "nodes": [{"name": "q", "type": "database", "connection": "crm", **node}],
        "edges": [{"type": "start", "to": "q"}],
    }


async def failure(client: Client, task_queue: str, graph: dict[str, Any], environ: dict[str, str],
                  graph_input: dict[str, Any] | None = None) -> str:  # fmt: skip
    with pytest.raises(WorkflowFailureError) as caught:
        await run_graph(client, task_queue, graph, graph_input or {}, environ)
    cause = caught.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == "NodeFailed"
    return cause.message


async def test_the_example_reads_rows_with_bound_parameters(
    temporal_client: Client, task_queue: str, crm: str
) -> None:
    graph = json.loads((ROOT / "examples/graphs/customer-lookup.json").read_text())
    result = await run_graph(
        temporal_client, task_queue, graph, {"customer_id": 7},
        {"QUEUEFLEET_GRAPHS_DATABASE_CRM": crm},
    )  # fmt: skip
    assert result.results["customer"] == {
        "rows": [{"id": 7, "name": "Ana", "tier": "gold"}],
        "columns": ["id", "name", "tier"],
        "row_count": 1,
    }
    assert result.results["open_orders"]["rows"] == [
        {"id": 1, "total": "10.5"},
        {"id": 2, "total": 20},
    ]
    assert result.results["summary"] == {"customer": "Ana", "open_orders": 2}


async def test_values_are_bound_never_formatted_into_the_sql(
    temporal_client: Client, task_queue: str, crm: str
) -> None:
    hostile = "7; DROP TABLE customers; --"
    graph = query_graph(sql="SELECT %s::text AS given", parameters=["{{input.id}}"])
    result = await run_graph(
        temporal_client, task_queue, graph, {"id": hostile}, {"QUEUEFLEET_GRAPHS_DATABASE_CRM": crm}
    )
    assert result.results["q"]["rows"] == [{"given": hostile}]
    with psycopg.connect(crm) as conn:
        assert conn.execute("SELECT count(*) FROM customers").fetchone() == (2,)


async def test_connections_are_read_only_unless_configured_writable(
    temporal_client: Client, task_queue: str, crm: str, tmp_path: Path
) -> None:
    insert = query_graph(
        sql="INSERT INTO customers VALUES (%s, %s, 'new') RETURNING id",
        parameters=["{{input.id}}", "Cy"],
    )
    message = await failure(
        temporal_client, task_queue, insert, {"QUEUEFLEET_GRAPHS_DATABASE_CRM": crm}, {"id": 9}
    )
    assert "node 'q': database 'crm'" in message
    assert "read-only transaction" in message
    # the URI from a mounted file, with writes allowed
    uri_file = tmp_path / "crm-uri"
    uri_file.write_text(crm + "\n")
    writable = {
        "QUEUEFLEET_GRAPHS_DATABASE_CRM_FILE": str(uri_file),
        "QUEUEFLEET_GRAPHS_DATABASE_CRM_WRITABLE": "true",
    }
    result = await run_graph(temporal_client, task_queue, insert, {"id": 9}, writable)
    assert result.results["q"]["rows"] == [{"id": 9}]
    with psycopg.connect(crm) as conn:
        assert conn.execute("SELECT name FROM customers WHERE id = 9").fetchone() == ("Cy",)


async def test_sql_errors_name_the_node_and_the_database_message(
    temporal_client: Client, task_queue: str, crm: str, postgres: PostgresEndpoint
) -> None:
    environ = {"QUEUEFLEET_GRAPHS_DATABASE_CRM": crm}
    message = await failure(
        temporal_client, task_queue, query_graph(sql="SELECT nope FROM customers"), environ
    )
    assert message == (
        "node 'q' failed: node 'q': database 'crm': column \"nope\" does not exist [SQLSTATE 42703]"
    )
    # one statement only: a second one is refused by the server, not run
    message = await failure(
        temporal_client, task_queue, query_graph(sql="SELECT 1; DELETE FROM customers"), environ
    )
    assert "cannot insert multiple commands into a prepared statement" in message
    with psycopg.connect(crm) as conn:
        assert conn.execute("SELECT count(*) FROM customers").fetchone() == (2,)
    # the statement timeout
    message = await failure(
        temporal_client, task_queue, query_graph(sql="SELECT pg_sleep(5)", timeout_seconds=0.5),
        environ,
    )  # fmt: skip
    assert message.startswith(
        "node 'q' failed: node 'q': database 'crm': statement timed out after 0.5s"
    )
    # a wrong password: the message never carries the URI's password
    wrong = crm.replace(postgres.password, "Wr0ngPassw0rd")
    message = await failure(
        temporal_client, task_queue,
        query_graph(sql="SELECT 1", retry={"maximum_attempts": 1}),
        {"QUEUEFLEET_GRAPHS_DATABASE_CRM": wrong},
    )  # fmt: skip
    assert "password authentication failed" in message
    assert "Wr0ngPassw0rd" not in message
    assert postgres.password not in message


async def test_unknown_connection_fails_the_node_naming_it(
    temporal_client: Client, task_queue: str, crm: str
) -> None:
    graph = query_graph(sql="SELECT 1")
    graph["nodes"][0]["connection"] = "billing"
    message = await failure(
        temporal_client, task_queue, graph, {"QUEUEFLEET_GRAPHS_DATABASE_CRM": crm}
    )
    assert message == (
        "node 'q' failed: node 'q': database connection 'billing' is not configured on this "
        "worker (set QUEUEFLEET_GRAPHS_DATABASE_BILLING; configured: crm)"
    )


async def test_rows_are_capped(temporal_client: Client, task_queue: str, crm: str) -> None:
    graph = query_graph(sql="SELECT g AS n FROM generate_series(1, 50) AS g", max_rows=3)
    result = await run_graph(
        temporal_client, task_queue, graph, {}, {"QUEUEFLEET_GRAPHS_DATABASE_CRM": crm}
    )
    assert result.results["q"] == {
        "rows": [{"n": 1}, {"n": 2}, {"n": 3}],
        "columns": ["n"],
        "row_count": 3,
        "more_rows": True,
    }
    big = query_graph(sql="SELECT repeat('x', 100000) AS blob")
    result = await run_graph(
        temporal_client, task_queue, big, {}, {"QUEUEFLEET_GRAPHS_DATABASE_CRM": crm}
    )
    assert result.results["q"]["truncated"] is True
    assert result.results["q"]["size_bytes"] > 100_000


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        (
            {"QUEUEFLEET_GRAPHS_DATABASE_CRM": "mysql://x"},
            "QUEUEFLEET_GRAPHS_DATABASE_CRM must be a libpq URI starting with postgresql://",
        ),
        (
            {"QUEUEFLEET_GRAPHS_DATABASE_CRM_FILE": "/nonexistent/uri"},
            "QUEUEFLEET_GRAPHS_DATABASE_CRM_FILE: '/nonexistent/uri' is not a readable file",
        ),
        (
            {"QUEUEFLEET_GRAPHS_DATABASE_CRM_WRITABLE": "true"},
            "QUEUEFLEET_GRAPHS_DATABASE_CRM_WRITABLE is set, but no "
            "QUEUEFLEET_GRAPHS_DATABASE_CRM connection is",
        ),
    ],
)
def test_bad_settings_fail_the_registrar_naming_the_variable(
    environ: dict[str, str], message: str
) -> None:
    context = RegistrarContext(task_queue="graphs.v1", namespace="default", environ=environ)
    with pytest.raises(RegistryError) as caught:
        assemble([GraphsRegistrar()], context)
    assert str(caught.value) == f"graphs pack: {message}"
