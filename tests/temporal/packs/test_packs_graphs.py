"""The graph executor against the real dev server and a local HTTP service."""

# ruff: noqa: E501  (tables of graphs read better one case per line)

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import random
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from queuefleet_packs.graphs.activities import GraphActivities, HostAllowList
from queuefleet_packs.graphs.registrar import GraphsRegistrar
from queuefleet_packs.graphs.workflows import (
    ApprovalDecision,
    GraphResult,
    GraphRunInput,
    GraphWorkflow,
)
from temporalio.client import Client, WorkflowFailureError
from temporalio.worker import Replayer, Worker

from tests.temporal.packs.helpers import LocalService, local_service, pack_worker

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "examples/graphs"


def example(name: str) -> dict[str, Any]:
    return json.loads((EXAMPLES / name).read_text())


@pytest.fixture
def service() -> Any:
    with local_service() as running:
        yield running


async def run_graph(
    client: Client, task_queue: str, graph: dict[str, Any], graph_input: dict[str, Any] | None = None,
    *, environ: dict[str, str] | None = None, workflow_id: str | None = None,
) -> GraphResult:  # fmt: skip
    async with pack_worker(client, GraphsRegistrar(task_queue=task_queue), environ=environ):
        return await client.execute_workflow(
            GraphWorkflow.run,
            GraphRunInput(graph=graph, input=graph_input or {}),
            id=workflow_id or f"graph-{uuid.uuid4()}",
            task_queue=task_queue,
            execution_timeout=timedelta(seconds=60),
        )


def allow(service: LocalService) -> dict[str, str]:
    return {
        "QUEUEFLEET_GRAPHS_HTTP_ALLOW": f"127.0.0.1:{service.port}",
        "QUEUEFLEET_GRAPHS_SECRET_HOOKS": "k3y",
        "QUEUEFLEET_GRAPHS_SECRET_HOOKS_HOSTS": f"127.0.0.1:{service.port}",
    }


def t(name: str, output: Any) -> dict[str, Any]:
    return {"name": name, "type": "transform", "output": output}


async def test_small_order_takes_the_automatic_branch_and_converges(
    temporal_client: Client, task_queue: str, service: LocalService
) -> None:
    service.routes["/orders/"] = lambda r: (200, {"id": r.path.rsplit("/", 1)[1], "total": 10})
    result = await run_graph(
        temporal_client, task_queue, example("order-review.json"),
        {"api": service.base_url, "order_id": "o-1", "review_threshold": 100}, environ=allow(service),
    )  # fmt: skip
    assert result.skipped == ["review"]
    assert result.order == ["fetch_order", "is_large", "auto_approve", "decision", "notify"]
    assert result.results["decision"] == {"order": "o-1", "approved": True, "by": "policy"}
    [hook] = service.requests_to("/hooks/decisions")
    assert json.loads(hook.body) == {"approved": True, "by": "policy", "order": "o-1"}


async def test_large_order_waits_for_the_approval_signal(
    temporal_client: Client, task_queue: str, service: LocalService
) -> None:
    service.routes["/orders/"] = lambda r: (200, {"total": 5000})
    async with pack_worker(
        temporal_client, GraphsRegistrar(task_queue=task_queue), environ=allow(service)
    ):
        handle = await temporal_client.start_workflow(
            GraphWorkflow.run,
            GraphRunInput(graph=example("order-review.json"),
                          input={"api": service.base_url, "order_id": "o-2", "review_threshold": 100}),
            id=f"graph-{uuid.uuid4()}",
            task_queue=task_queue,
        )  # fmt: skip
        await wait_for_status(handle, "review", "running")
        await handle.signal(
            GraphWorkflow.approve, ApprovalDecision(node="review", approved=False, by="ana")
        )
        result = await handle.result()
    assert result.skipped == ["auto_approve"]
    assert result.results["review"]["by"] == "ana"
    assert result.results["decision"] == {"order": "o-2", "approved": False, "by": "ana"}


async def wait_for_status(handle: Any, node: str, status: str) -> None:
    import asyncio

    for _ in range(200):
        if (await handle.query(GraphWorkflow.status)).get(node) == status:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"node {node} never reached {status}")


async def test_approval_timeout_takes_the_false_branch(
    temporal_client: Client, task_queue: str
) -> None:
    graph = {
        "nodes": [
            {"name": "gate", "type": "approval", "timeout_seconds": 0.5},
            t("approved", "yes"),
            t("declined", "{{gate.comment}}"),
        ],
        "edges": [
            {"type": "start", "to": "gate"},
            {"type": "true_branch", "from": "gate", "to": "approved"},
            {"type": "false_branch", "from": "gate", "to": "declined"},
        ],
    }
    result = await run_graph(temporal_client, task_queue, graph)
    assert result.results["gate"]["timed_out"] is True
    assert result.results["declined"] == "no decision within 0.5 seconds"
    assert result.skipped == ["approved"]


async def test_parallel_branches_run_concurrently_and_failures_can_continue(
    temporal_client: Client, task_queue: str, service: LocalService
) -> None:
    service.delay_seconds = 0.4
    service.routes["/risk"] = lambda r: (400, {"error": "unknown customer"})
    service.routes["/profile/"] = lambda r: (200, {"name": "Ada"})
    result = await run_graph(
        temporal_client, task_queue, example("parallel-enrich.json"),
        {"api": service.base_url, "customer_id": "c7"}, environ=allow(service),
    )  # fmt: skip
    assert service.max_in_flight >= 2
    assert result.failed == ["risk"]
    assert "HTTP 400" in result.results["risk"]["error"]
    assert result.results["merge"]["risk"] == "unknown"
    assert result.results["merge"]["profile"] == {"name": "Ada"}
    assert result.order[0] == "prepare"
    assert result.order[-1] == "merge"
    assert json.loads(service.requests_to("/risk")[0].body) == {"customer": "c7"}
    assert service.requests_to("/orders")[0].path == "/orders?customer=c7"


async def test_hosts_off_the_allow_list_are_never_contacted(
    temporal_client: Client, task_queue: str, service: LocalService
) -> None:
    graph = {
        "nodes": [{"name": "call", "type": "http", "url": f"{service.base_url}/secret"}],
        "edges": [{"type": "start", "to": "call"}],
    }
    with pytest.raises(WorkflowFailureError) as caught:
        await run_graph(
            temporal_client,
            task_queue,
            graph,
            environ={"QUEUEFLEET_GRAPHS_HTTP_ALLOW": "example.com"},
        )
    assert (
        f"node 'call' failed: node 'call': '127.0.0.1:{service.port}' is not on the worker's HTTP allow-list"
        in str(caught.value.cause)
    )
    assert service.requests == []


async def test_redirects_are_not_followed(
    temporal_client: Client, task_queue: str, service: LocalService
) -> None:
    service.routes["/jump"] = lambda r: (302, "http://169.254.169.254/latest")
    graph = {
        "nodes": [{"name": "call", "type": "http", "url": f"{service.base_url}/jump"}],
        "edges": [{"type": "start", "to": "call"}],
    }
    result = await run_graph(temporal_client, task_queue, graph, environ=allow(service))
    assert result.results["call"]["status"] == 302
    assert len(service.requests) == 1


async def test_webhook_is_signed_with_the_named_worker_secret(
    temporal_client: Client, task_queue: str, service: LocalService
) -> None:
    graph = {
        "nodes": [{"name": "hook", "type": "webhook", "url": f"{service.base_url}/hook",
                   "payload": {"id": "{{input.id}}"}, "sign_with": "hooks"}],
        "edges": [{"type": "start", "to": "hook"}],
    }  # fmt: skip
    before = int(time.time())
    result = await run_graph(temporal_client, task_queue, graph, {"id": 7}, environ=allow(service))
    assert result.results["hook"]["delivered"] is True
    [request] = service.requests
    # t=<unix seconds>,v1=HMAC-SHA256(secret, "<t>." + body): a receiver can refuse replays
    stamp, signature = request.headers["X-Queuefleet-Signature"].split(",")
    timestamp = int(stamp.removeprefix("t="))
    assert before <= timestamp <= int(time.time())
    expected = hmac.new(b"k3y", f"{timestamp}.".encode() + request.body, hashlib.sha256)
    assert signature == f"v1={expected.hexdigest()}"
    assert json.loads(request.body) == {"id": 7}


async def test_a_webhook_secret_signs_only_for_its_hosts(
    temporal_client: Client, task_queue: str, service: LocalService
) -> None:
    graph = {
        "nodes": [{"name": "hook", "type": "webhook", "url": f"{service.base_url}/hook",
                   "payload": {}, "sign_with": "hooks"}],
        "edges": [{"type": "start", "to": "hook"}],
    }  # fmt: skip
    environ = {**allow(service), "QUEUEFLEET_GRAPHS_SECRET_HOOKS_HOSTS": "hooks.example.com"}
    with pytest.raises(WorkflowFailureError) as caught:
        await run_graph(temporal_client, task_queue, graph, environ=environ)
    assert f"secret 'hooks' may not sign for 127.0.0.1:{service.port}" in str(caught.value.cause)
    assert service.requests == []


async def test_invalid_graph_fails_before_any_side_effect(
    temporal_client: Client, task_queue: str, service: LocalService
) -> None:
    graph = {
        "nodes": [
            {"name": "call", "type": "http", "url": f"{service.base_url}/x"},
            t("bad", "{{call.__dict__}}"),
        ],
        "edges": [
            {"type": "start", "to": "call"},
            {"type": "sequence", "from": "call", "to": "bad"},
        ],
    }
    with pytest.raises(WorkflowFailureError) as caught:
        await run_graph(temporal_client, task_queue, graph, environ=allow(service))
    message = str(caught.value.cause)
    assert "invalid graph: node 'bad': bad template in 'output'" in message
    assert "'__dict__': names starting with '_' are not allowed" in message
    assert service.requests == []


async def test_large_results_are_truncated_not_fatal(
    temporal_client: Client, task_queue: str, service: LocalService
) -> None:
    service.routes["/big"] = lambda r: (200, {"blob": "y" * 20_000})
    graph = {
        "options": {"max_result_bytes": 1024},
        "nodes": [
            t("text", "{{'x' * 50000}}"),
            {"name": "big", "type": "http", "url": f"{service.base_url}/big"},
            t("after", {"size": "{{big.size_bytes}}", "truncated": "{{text.truncated}}"}),
        ],
        "edges": [
            {"type": "start", "to": "text"},
            {"type": "sequence", "from": "text", "to": "big"},
            {"type": "sequence", "from": "big", "to": "after"},
        ],
    }
    result = await run_graph(temporal_client, task_queue, graph, environ=allow(service))
    assert result.results["text"]["size_bytes"] == 50_002
    assert result.results["after"]["truncated"] is True
    assert result.results["after"]["size"] > 20_000
    assert len(json.dumps(result.results["big"])) < 1024


async def test_continue_as_new_carries_the_context(
    temporal_client: Client, task_queue: str, service: LocalService
) -> None:
    steps = 30  # each activity node adds about six events: the 100-event limit is passed
    service.routes["/step/"] = lambda r: (200, {"step": int(r.path.rsplit("/", 1)[1])})
    nodes = [t("first", {"token": "{{input.token}}"})]
    nodes += [
        {"name": f"step{i}", "type": "http", "url": f"{service.base_url}/step/{i}"}
        for i in range(steps)
    ]
    nodes += [
        t(
            "last",
            {
                "token": "{{first.token}}",
                "step0": "{{step0.body.step}}",
                "steps": "{{step29.body.step}}",
            },
        )
    ]
    names = [n["name"] for n in nodes]
    graph = {
        "options": {"max_history_events": 100},
        "nodes": nodes,
        "edges": [{"type": "start", "to": "first"}]
        + [{"type": "sequence", "from": a, "to": b} for a, b in itertools.pairwise(names)],
    }
    workflow_id = f"graph-can-{uuid.uuid4()}"
    result = await run_graph(
        temporal_client,
        task_queue,
        graph,
        {"token": "abc"},
        environ=allow(service),
        workflow_id=workflow_id,
    )
    assert result.continued_as_new >= 1
    assert result.order == names
    assert result.results["last"] == {"token": "abc", "step0": 0, "steps": 29}
    assert len(service.requests) == steps  # no node ran twice across the histories
    history = await temporal_client.get_workflow_handle(workflow_id).fetch_history()
    assert len(history.events) <= 100 + 10  # the last history stayed near the limit too


async def test_child_graph_and_durable_delay(temporal_client: Client, task_queue: str) -> None:
    result = await run_graph(
        temporal_client, task_queue, example("cooldown-child.json"), {"amount": 200}
    )
    assert result.results["settle"]["results"]["fee"] == {"fee": 6.0}
    assert result.results["summary"] == "settled 200 with fee 6.0"


def random_graph(rng: random.Random) -> tuple[dict[str, Any], dict[str, bool]]:
    size = rng.randint(3, 14)
    kinds = ["condition" if rng.random() < 0.3 else "transform" for _ in range(size)]
    outcomes = {f"n{i}": rng.random() < 0.5 for i in range(size) if kinds[i] == "condition"}
    nodes = []
    for i, kind in enumerate(kinds):
        if kind == "condition":
            nodes.append(
                {
                    "name": f"n{i}",
                    "type": "condition",
                    "expression": "true" if outcomes[f"n{i}"] else "false",
                }
            )
        else:
            nodes.append(t(f"n{i}", i))
    edges: list[dict[str, Any]] = [{"type": "start", "to": "n0"}]
    for i in range(1, size):
        for source in sorted(rng.sample(range(i), k=min(i, rng.randint(1, 3)))):
            if kinds[source] == "condition":
                kind = rng.choice(["true_branch", "false_branch", "always"])
            else:
                kind = rng.choice(["parallel", "always"])
            edges.append({"type": kind, "from": f"n{source}", "to": f"n{i}"})
    return {"nodes": nodes, "edges": edges}, outcomes


@pytest.mark.parametrize("seed", range(6))
async def test_random_dags_respect_edges_and_run_reachable_nodes_once(
    temporal_client: Client, task_queue: str, seed: int
) -> None:
    graph, outcomes = random_graph(random.Random(seed))
    result = await run_graph(temporal_client, task_queue, graph)
    # reference semantics, computed in declaration (= topological) order
    ran: set[str] = set()
    for node in graph["nodes"]:
        inbound = [e for e in graph["edges"] if e["to"] == node["name"]]
        if any(
            e["type"] == "start"
            or (e.get("from") in ran and {"true_branch": outcomes.get(e["from"]) is True,
                                            "false_branch": outcomes.get(e["from"]) is False}.get(e["type"], True))
            for e in inbound
        ):  # fmt: skip
            ran.add(node["name"])
    assert len(result.order) == len(set(result.order))
    assert set(result.order) == ran
    position = {name: i for i, name in enumerate(result.order)}
    for edge in graph["edges"]:
        if edge.get("from") in position and edge["to"] in position:
            assert position[edge["from"]] < position[edge["to"]]


async def test_recorded_histories_replay_deterministically(
    temporal_client: Client, task_queue: str, service: LocalService, artifacts: Path
) -> None:
    """Record a run touching every in-workflow node type, then replay it with the current code."""
    service.routes["/orders/"] = lambda r: (200, {"total": 5000})
    async with pack_worker(
        temporal_client, GraphsRegistrar(task_queue=task_queue), environ=allow(service)
    ):
        handle = await temporal_client.start_workflow(
            GraphWorkflow.run,
            GraphRunInput(graph=example("order-review.json"),
                          input={"api": service.base_url, "order_id": "o-9", "review_threshold": 1}),
            id=f"graph-replay-{uuid.uuid4()}",
            task_queue=task_queue,
        )  # fmt: skip
        await wait_for_status(handle, "review", "running")  # decisions count only while waiting
        await handle.signal(
            GraphWorkflow.approve, ApprovalDecision(node="review", approved=True, by="bo")
        )
        await handle.result()
    child_id = f"graph-replay-child-{uuid.uuid4()}"
    child = await run_graph(temporal_client, task_queue, example("cooldown-child.json"), {"amount": 1},
                            workflow_id=child_id)  # fmt: skip
    assert child.results["summary"]
    histories = [
        await temporal_client.get_workflow_handle(workflow_id).fetch_history()
        for workflow_id in (handle.id, child_id, f"{child_id}.settle")
    ]
    replayer = Replayer(workflows=[GraphWorkflow])
    for history in histories:
        await replayer.replay_workflow(history)
    out = artifacts / "graph-histories"
    out.mkdir(exist_ok=True)
    for history in histories:
        (out / f"{history.workflow_id}.json").write_text(history.to_json())


async def test_approvals_count_only_from_listed_approvers_while_the_node_waits(
    temporal_client: Client, task_queue: str
) -> None:
    graph = {
        "nodes": [
            {"name": "cool", "type": "delay", "seconds": 1},
            {"name": "gate", "type": "approval", "approvers": ["ana"], "timeout_seconds": 30},
            t("approved", "yes"),
            t("declined", "no"),
        ],
        "edges": [
            {"type": "start", "to": "cool"},
            {"type": "sequence", "from": "cool", "to": "gate"},
            {"type": "true_branch", "from": "gate", "to": "approved"},
            {"type": "false_branch", "from": "gate", "to": "declined"},
        ],
    }
    async with pack_worker(temporal_client, GraphsRegistrar(task_queue=task_queue)):
        handle = await temporal_client.start_workflow(
            GraphWorkflow.run,
            GraphRunInput(graph=graph),
            id=f"graph-{uuid.uuid4()}",
            task_queue=task_queue,
        )
        await wait_for_status(handle, "cool", "running")
        early = ApprovalDecision(node="gate", approved=False, by="ana")
        await handle.signal(GraphWorkflow.approve, early)  # before the node waits
        await wait_for_status(handle, "gate", "running")
        await handle.signal(
            GraphWorkflow.approve, ApprovalDecision(node="gate", approved=False, by="mallory")
        )
        await handle.signal(
            GraphWorkflow.approve, ApprovalDecision(node="cool", approved=True, by="ana")
        )
        await handle.signal(
            GraphWorkflow.approve, ApprovalDecision(node="gate", approved=True, by="ana")
        )
        result = await handle.result()
        decisions = await handle.query(GraphWorkflow.decisions)
    assert result.results["gate"]["approved"] is True
    assert result.results["gate"]["by"] == "ana"
    assert result.skipped == ["declined"]
    reasons = [(r["node"], r["by"], r["reason"]) for r in decisions["rejected"]]
    assert reasons == [
        ("gate", "ana", "node 'gate' is not waiting for a decision"),
        ("gate", "mallory", "'mallory' is not one of the node's approvers"),
        ("cool", "ana", "node 'cool' is not waiting for a decision"),
    ]
    assert [r["by"] for r in result.results["gate"]["rejected"]] == ["ana", "mallory"]
    assert decisions["accepted"]["gate"]["by"] == "ana"


async def test_names_are_resolved_checked_and_connected_to_as_checked(
    temporal_client: Client, task_queue: str, service: LocalService
) -> None:
    names = {"svc.test": ["127.0.0.1"], "meta.test": ["127.0.0.1", "169.254.169.254"]}

    async def resolve(host: str, port: int) -> list[str]:
        return names[host]

    activities = GraphActivities(
        allow_list=HostAllowList.parse(f"svc.test:{service.port},meta.test:{service.port}"),
        resolve=resolve,
    )
    graph = {
        "nodes": [
            {"name": "ok", "type": "http", "url": f"http://svc.test:{service.port}/a"},
            {"name": "meta", "type": "http", "url": f"http://meta.test:{service.port}/b",
             "on_error": "continue", "retry": {"maximum_attempts": 1}},
        ],
        "edges": [{"type": "start", "to": "ok"}, {"type": "sequence", "from": "ok", "to": "meta"}],
    }  # fmt: skip
    async with Worker(
        temporal_client,
        task_queue=task_queue,
        workflows=[GraphWorkflow],
        activities=[activities.http_request],
    ):
        result = await temporal_client.execute_workflow(
            GraphWorkflow.run,
            GraphRunInput(graph=graph),
            id=f"graph-{uuid.uuid4()}",
            task_queue=task_queue,
            execution_timeout=timedelta(seconds=60),
        )
    assert result.results["ok"]["status"] == 200
    [request] = service.requests  # the blocked name was never contacted
    assert request.path == "/a"
    assert request.headers["Host"] == f"svc.test:{service.port}"  # reached via the checked address
    assert "resolves to 169.254.169.254" in result.results["meta"]["error"]
    assert result.failed == ["meta"]
