"""Validation of the `database`, `ai_agent` and `api_call` nodes, and their worker settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from queuefleet_packs.graphs.activities import GraphActivities, HostAllowList
from queuefleet_packs.graphs.callbacks import CallbackSettingsError, callbacks_from
from queuefleet_packs.graphs.model import GraphError
from queuefleet_packs.graphs.nodes_ai import AiSettingsError, ai_endpoint_from
from queuefleet_packs.graphs.nodes_database import (
    DatabaseSettingsError,
    _redact,
    connections_from,
)
from queuefleet_packs.graphs.validator import parse_graph


def one_node(**node: Any) -> dict[str, Any]:
    return {"nodes": [{"name": "n", **node}], "edges": [{"type": "start", "to": "n"}]}


def problems(graph: dict[str, Any]) -> list[str]:
    with pytest.raises(GraphError) as caught:
        parse_graph(graph)
    return caught.value.problems


@pytest.mark.parametrize(
    ("node", "problem"),
    [
        (
            {"connection": "crm", "sql": "SELECT * FROM t WHERE id = {{input.id}}"},
            "node 'n': 'sql' cannot contain templates; pass values in 'parameters' "
            "and refer to them as %s (list) or %(name)s (object)",
        ),
        (
            {"connection": "no-dash", "sql": "SELECT 1"},
            "node 'n': 'connection' must name a database configured on the worker "
            "(QUEUEFLEET_GRAPHS_DATABASE_<NAME>), got 'no-dash'",
        ),
        ({"connection": "crm", "sql": "  "}, "node 'n': 'sql' must be a non-empty string"),
        (
            {"connection": "crm", "sql": "SELECT %s", "parameters": "x"},
            "node 'n': 'parameters' must be a list (for %s) or an object (for %(name)s)",
        ),
        (
            {"connection": "crm", "sql": "SELECT 1", "max_rows": 0},
            "node 'n': 'max_rows' must be an integer from 1 to 100000",
        ),
        (
            {"connection": "crm", "sql": "SELECT %s", "parameters": ["{{later.x}}"]},
            "node 'n': 'parameters' reads 'later', which is not a node that runs before it "
            "(templates read 'input' and upstream nodes)",
        ),
        ({"sql": "SELECT 1"}, "node 'n': a database node needs 'connection'"),
        (
            {"connection": "crm", "sql": "SELECT 1", "password": "x"},
            "node 'n': unknown field 'password' for a database node",
        ),
    ],
)
def test_database_node_problems_name_the_node(node: dict[str, Any], problem: str) -> None:
    assert problems(one_node(type="database", **node)) == [problem]


@pytest.mark.parametrize(
    ("node", "problem"),
    [
        (
            {"prompt": "hi", "temperature": 3},
            "node 'n': 'temperature' must be a number from 0 to 2",
        ),
        (
            {"prompt": "hi", "response_format": "xml"},
            "node 'n': 'response_format' must be 'text' or 'json'",
        ),
        (
            {"prompt": {"text": "hi"}},
            "node 'n': 'prompt' must be a string (it may contain templates)",
        ),
        ({"prompt": "hi", "model": ""}, "node 'n': 'model' must be a non-empty string"),
        ({"system": "be brief"}, "node 'n': a ai_agent node needs 'prompt'"),
        (
            {"prompt": "{{missing.x}}"},
            "node 'n': 'prompt' reads 'missing', which is not a node that runs before it "
            "(templates read 'input' and upstream nodes)",
        ),
    ],
)
def test_ai_agent_node_problems_name_the_node(node: dict[str, Any], problem: str) -> None:
    assert problems(one_node(type="ai_agent", **node)) == [problem]


def test_api_call_takes_exactly_the_http_fields() -> None:
    graph = one_node(type="api_call", url="https://x.example/", method="POST", body={"a": 1})
    assert parse_graph(graph).node("n").type == "api_call"
    assert problems(one_node(type="api_call", url="ftp://x")) == [
        "node 'n': 'url' must start with http:// or https://, got 'ftp://x'"
    ]


def test_database_connections_from_the_environment(tmp_path: Path) -> None:
    uri_file = tmp_path / "uri"
    uri_file.write_text("postgresql://u:p@db.example:5432/orders\n")
    connections = connections_from(
        {
            "QUEUEFLEET_GRAPHS_DATABASE_CRM": "postgresql://u:p@127.0.0.1/crm",
            "QUEUEFLEET_GRAPHS_DATABASE_ORDERS_FILE": str(uri_file),
            "QUEUEFLEET_GRAPHS_DATABASE_ORDERS_WRITABLE": "TRUE",
            "QUEUEFLEET_GRAPHS_HTTP_ALLOW": "ignored",
        }
    )
    assert sorted(connections) == ["crm", "orders"]
    assert connections["crm"].writable is False
    assert connections["orders"].writable is True
    assert connections["orders"].read_uri() == "postgresql://u:p@db.example:5432/orders"
    assert "u:p@" not in repr(connections["orders"]) + repr(connections["crm"])


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        (
            {
                "QUEUEFLEET_GRAPHS_DATABASE_CRM": "postgresql://x",
                "QUEUEFLEET_GRAPHS_DATABASE_CRM_FILE": "/etc/hostname",
            },
            "set QUEUEFLEET_GRAPHS_DATABASE_CRM or QUEUEFLEET_GRAPHS_DATABASE_CRM_FILE, not both",
        ),
        (
            {
                "QUEUEFLEET_GRAPHS_DATABASE_CRM": "postgresql://x",
                "QUEUEFLEET_GRAPHS_DATABASE_CRM_WRITABLE": "yes",
            },
            "QUEUEFLEET_GRAPHS_DATABASE_CRM_WRITABLE must be 'true' or 'false', got 'yes'",
        ),
    ],
)
def test_database_settings_errors_name_the_variable(environ: dict[str, str], message: str) -> None:
    with pytest.raises(DatabaseSettingsError) as caught:
        connections_from(environ)
    assert str(caught.value) == message


def test_a_password_never_survives_into_an_error_message() -> None:
    uri = "postgresql://app:s%40cret@127.0.0.1:5432/crm"
    message = f"connection to {uri} failed for app with password s@cret"
    assert (
        _redact(message, uri) == "connection to <connection URI> failed for app with password ***"
    )


def test_ai_settings() -> None:
    assert ai_endpoint_from({}) is None
    endpoint = ai_endpoint_from(
        {
            "QUEUEFLEET_GRAPHS_AI_BASE_URL": "https://api.example/v1/",
            "QUEUEFLEET_GRAPHS_AI_API_KEY": "k",
        }
    )
    assert endpoint is not None
    assert endpoint.completions_url == "https://api.example/v1/chat/completions"
    assert "k" not in repr(endpoint).replace("base_url", "").replace("https", "")
    with pytest.raises(AiSettingsError, match="QUEUEFLEET_GRAPHS_AI_BASE_URL must be an http"):
        ai_endpoint_from({"QUEUEFLEET_GRAPHS_AI_BASE_URL": "api.example"})


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        (
            {"QUEUEFLEET_GRAPHS_CALLBACK_URL": "worker:8088"},
            "QUEUEFLEET_GRAPHS_CALLBACK_URL must be an http(s) URL, got 'worker:8088'",
        ),
        (
            {"QUEUEFLEET_GRAPHS_CALLBACK_URL": "http://worker:8088",
             "QUEUEFLEET_GRAPHS_CALLBACK_SECRET": "short"},
            "QUEUEFLEET_GRAPHS_CALLBACK_SECRET must hold at least 16 characters when callbacks "
            "are on",
        ),
        (
            {"QUEUEFLEET_GRAPHS_CALLBACK_LISTEN": "8088",
             "QUEUEFLEET_GRAPHS_CALLBACK_SECRET": "s" * 16},
            "QUEUEFLEET_GRAPHS_CALLBACK_LISTEN must be host:port, got '8088'",
        ),
        (
            {"QUEUEFLEET_GRAPHS_CALLBACK_LISTEN": "0.0.0.0:99999",
             "QUEUEFLEET_GRAPHS_CALLBACK_SECRET": "s" * 16},
            "QUEUEFLEET_GRAPHS_CALLBACK_LISTEN must be host:port, got '0.0.0.0:99999'",
        ),
    ],
)  # fmt: skip
def test_callback_settings_errors_name_the_variable(environ: dict[str, str], message: str) -> None:
    with pytest.raises(CallbackSettingsError) as caught:
        callbacks_from(environ, None, GraphActivities(allow_list=HostAllowList.parse("")))
    assert str(caught.value) == message


def test_callback_node_needs_a_url() -> None:
    assert problems(one_node(type="callback", payload={"a": 1})) == [
        "node 'n': a callback node needs 'url'"
    ]
