"""Where graph nodes may connect and what they may start: URLs, headers, addresses,
webhook secrets bound to hosts, the child workflow allow-list and the run tree's budget."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from queuefleet_packs.graphs.activities import sign
from queuefleet_packs.graphs.children import (
    ChildPolicy,
    RunTree,
    allocations,
    run_limits,
    tree_problems,
)
from queuefleet_packs.graphs.egress import AddressPolicy, UrlError, header_problem, parse_url
from queuefleet_packs.graphs.registrar import secrets_from
from queuefleet_packs.graphs.validator import parse_graph


@pytest.mark.parametrize(
    ("url", "host", "port"),
    [
        ("http://Example.COM/x", "example.com", 80),
        ("https://example.com:8443/", "example.com", 8443),
        ("https://\uff45xample.com/", "example.com", 443),  # fullwidth e, as IDNA maps it
        ("http://b\u00fccher.example/", "xn--bcher-kva.example", 80),
        ("http://[::1]:9000/", "::1", 9000),
        ("http://127.0.0.1./", "127.0.0.1", 80),
    ],
)
def test_urls_reduce_to_one_ascii_host_and_port(url: str, host: str, port: int) -> None:
    target = parse_url(url)
    assert (target.host, target.port) == (host, port)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://[host", "Invalid IPv6 URL"),
        ("http://example.com:99999/", "Port out of range"),
        ("ftp://example.com/", "must start with http:// or https://"),
        ("http://user@example.com/", "user info"),
        ("http:///path", "names no host"),
        ("http://exa\uff0fmple.com/", "not a valid URL"),
        ("http://" + "a" * 64 + ".com/", "not a valid name"),
        ("http://ex ample.com/", "not a valid name"),
    ],
)
def test_bad_urls_say_why(url: str, message: str) -> None:
    with pytest.raises(UrlError) as caught:
        parse_url(url)
    assert message in str(caught.value)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_any_text_is_a_url_or_a_url_error(text: str) -> None:
    try:
        target = parse_url("http://" + text)
    except UrlError:
        return
    assert target.host.isascii()
    assert 0 <= target.port <= 65535


@pytest.mark.parametrize(
    ("name", "value", "refused"),
    [
        ("Authorization", "Bearer x", False),
        ("X-Request-Id", "42", False),
        ("Host", "admin.internal", True),
        ("host", "admin.internal", True),
        ("Connection", "close", True),
        ("Transfer-Encoding", "chunked", True),
        ("Proxy-Authorization", "x", True),
        ("X-Forwarded-For", "10.0.0.1", True),
        ("X-Forwarded-Host", "a", True),
        ("Forwarded", "for=1.2.3.4", True),
        ("X-Queuefleet-Signature", "t=1,v1=00", True),
        ("X-Note", "a\r\nHost: evil", True),
        ("Bad Name", "x", True),
    ],
)
def test_header_rules(name: str, value: str, refused: bool) -> None:
    assert (header_problem(name, value) is not None) is refused


@pytest.mark.parametrize(
    ("address", "blocked"),
    [
        ("169.254.169.254", True),
        ("169.254.0.1", True),
        ("fd00:ec2::254", True),
        ("fe80::1%eth0", True),
        ("::ffff:169.254.169.254", True),  # IPv4-mapped
        ("100.100.100.200", True),
        ("0.0.0.0", True),
        ("127.0.0.1", False),
        ("::1", False),
        ("93.184.215.14", False),
    ],
)
def test_link_local_and_metadata_addresses_are_blocked_by_default(
    address: str, blocked: bool
) -> None:
    assert (AddressPolicy.parse().refusal(address) is not None) is blocked


def test_exempt_networks_lift_the_block_only_where_named() -> None:
    policy = AddressPolicy.parse("169.254.10.0/24")
    assert policy.refusal("169.254.10.7") is None
    assert policy.refusal("169.254.169.254") is not None
    with pytest.raises(ValueError, match="not a network address"):
        AddressPolicy.parse("not-a-network")


def test_signatures_cover_a_timestamp_and_the_body() -> None:
    header = sign("k3y", 1700000000, b'{"a":1}')
    expected = hmac.new(b"k3y", b'1700000000.{"a":1}', hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"
    assert sign("k3y", 1700000001, b'{"a":1}') != header  # a replay with a new time differs


def test_each_webhook_secret_is_bound_to_its_own_hosts() -> None:
    secrets = secrets_from(
        {
            "QUEUEFLEET_GRAPHS_SECRET_HOOKS": "k3y",
            "QUEUEFLEET_GRAPHS_SECRET_HOOKS_HOSTS": "hooks.example.com,*.partner.net:8443",
            "QUEUEFLEET_GRAPHS_SECRET_LOOSE": "s",
        }
    )
    assert set(secrets) == {"hooks", "loose"}
    hooks = secrets["hooks"]
    assert hooks.value == "k3y"
    assert hooks.hosts.allows("https://hooks.example.com/x")
    assert hooks.hosts.allows("https://a.partner.net:8443/x")
    assert not hooks.hosts.allows("https://other.example.com/x")
    assert not secrets["loose"].hosts.allows("https://hooks.example.com/x")  # bound to none


def test_child_policy_entries_and_the_default() -> None:
    default = ChildPolicy.parse("GraphWorkflow")
    assert default.allows("GraphWorkflow", "graphs.v1", "graphs.v1")
    assert not default.allows("GraphWorkflow", "orders.saga.v1", "graphs.v1")
    assert not default.allows("OrderSagaWorkflow", "graphs.v1", "graphs.v1")
    wider = ChildPolicy.parse("GraphWorkflow, OrderSagaWorkflow@orders.saga.v1")
    assert wider.allows("OrderSagaWorkflow", "orders.saga.v1", "graphs.v1")
    assert not wider.allows("OrderSagaWorkflow", "graphs.v1", "graphs.v1")
    with pytest.raises(ValueError, match="is not 'WorkflowType'"):
        ChildPolicy.parse("Graph Workflow")


def self_replicating(children: int, **options: Any) -> dict[str, Any]:
    again = {"graph": "{{input.graph}}"}
    spawn = {"type": "child", "workflow": "GraphWorkflow", "input": {**again, "input": again}}
    return {
        "options": options,
        "nodes": [{"name": f"spawn{i}", **spawn} for i in range(children)],
        "edges": [{"type": "start", "to": f"spawn{i}"} for i in range(children)],
    }


def runs_in_tree(raw: dict[str, Any], tree: RunTree) -> int:
    """Every run a self-replicating graph leads to, following the workflow's own rules:
    a run whose limits refuse its child nodes fails before starting any."""
    graph = parse_graph(raw)
    if tree_problems(graph, tree):
        return 1
    _, max_depth = run_limits(graph, tree)
    total = 1
    for share in allocations(graph, tree).values():
        child = RunTree(depth=tree.depth + 1, budget=max(share - 1, 0), max_depth=max_depth)
        total += runs_in_tree(raw, child)
    return total


@pytest.mark.parametrize(
    ("children", "options"),
    [
        (1, {}),
        (2, {}),
        (5, {}),
        (2, {"max_children": 1000, "max_child_depth": 10}),
        (7, {"max_children": 20}),
    ],
)
def test_a_self_replicating_graph_never_exceeds_its_tree_budget(
    children: int, options: dict[str, Any]
) -> None:
    raw = self_replicating(children, **options)
    budget = options.get("max_children", 100)
    # the root itself plus at most `budget` child workflows, whatever the fan-out
    assert runs_in_tree(raw, RunTree()) <= budget + 1


def test_shares_split_what_is_left_and_never_exceed_the_budget() -> None:
    inline = {"nodes": [{"name": "t", "type": "transform", "output": 1}],
              "edges": [{"type": "start", "to": "t"}]}  # fmt: skip
    raw = {
        "options": {"max_children": 10},
        "nodes": [
            {"name": "a", "type": "child", "graph": inline},
            {"name": "b", "type": "child", "workflow": "GraphWorkflow"},
            {"name": "c", "type": "child", "graph": {
                "nodes": [{"name": "d", "type": "child", "graph": inline}],
                "edges": [{"type": "start", "to": "d"}]}},
        ],
        "edges": [{"type": "start", "to": n} for n in "abc"],
    }  # fmt: skip
    graph = parse_graph(raw)
    assert dict(graph.child_needs) == {"a": 1, "b": 1, "c": 2}
    assert dict(graph.child_depth) == {"a": 1, "b": 1, "c": 2}
    shares = allocations(graph, RunTree())
    assert shares == {"a": 3, "b": 3, "c": 4}  # (10 - 4) // 3 = 2 more each
    assert sum(shares.values()) <= 10
    assert tree_problems(graph, RunTree(depth=2, max_depth=3)) == [
        "node 'c': child workflows would run 4 levels deep, more than max_child_depth allows (3)"
    ]
