"""`ai_agent` and `api_call` graph nodes against the real dev server.

No model service runs here: the chat-completions endpoint is a local HTTP server on
loopback that speaks the same API (the only stand-in, because the real thing is a cloud
service). It records what the node sent, so the tests check the request as well.
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from queuefleet_packs.graphs.registrar import GraphsRegistrar
from queuefleet_packs.graphs.workflows import GraphResult, GraphRunInput, GraphWorkflow
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError

from tests.temporal.packs.helpers import LocalService, Recorded, local_service, pack_worker

ROOT = Path(__file__).resolve().parents[3]
API_KEY = "sk-test-" + uuid.uuid4().hex


@pytest.fixture
def service() -> Any:
    with local_service() as running:
        yield running


def example(name: str) -> dict[str, Any]:
    return json.loads((ROOT / "examples/graphs" / name).read_text())


def completion(content: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "gpt-4o-mini",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17},
    }


def answers(*replies: tuple[int, Any]) -> Any:
    """A route answering with `replies` in turn, then repeating the last one."""
    queue = list(replies)

    def respond(_: Recorded) -> tuple[int, Any]:
        return queue.pop(0) if len(queue) > 1 else queue[0]

    return respond


def environ(service: LocalService, **extra: str) -> dict[str, str]:
    return {
        "QUEUEFLEET_GRAPHS_HTTP_ALLOW": f"127.0.0.1:{service.port}",
        "QUEUEFLEET_GRAPHS_AI_BASE_URL": f"{service.base_url}/v1",
        "QUEUEFLEET_GRAPHS_AI_API_KEY": API_KEY,
        **extra,
    }


async def run_graph(
    client: Client, task_queue: str, graph: dict[str, Any], graph_input: dict[str, Any],
    env: dict[str, str],
) -> GraphResult:  # fmt: skip
    async with pack_worker(client, GraphsRegistrar(task_queue=task_queue), environ=env):
        return await client.execute_workflow(
            GraphWorkflow.run,
            GraphRunInput(graph=graph, input=graph_input),
            id=f"graph-{uuid.uuid4()}",
            task_queue=task_queue,
            execution_timeout=timedelta(seconds=60),
        )


async def node_failure(client: Client, task_queue: str, graph: dict[str, Any],
                       env: dict[str, str]) -> str:  # fmt: skip
    with pytest.raises(WorkflowFailureError) as caught:
        await run_graph(client, task_queue, graph, {"customer": "ana", "text": "hi"}, env)
    cause = caught.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == "NodeFailed"
    return cause.message


def triage(**retry: float) -> dict[str, Any]:
    graph = example("ticket-triage.json")
    graph["nodes"][0]["retry"] = {"maximum_attempts": 4, "initial_interval_seconds": 0.1, **retry}
    return graph


async def test_triage_example_retries_429_and_5xx_then_branches_on_the_json_answer(
    temporal_client: Client, task_queue: str, service: LocalService
) -> None:
    service.routes["/v1/chat/completions"] = answers(
        (429, {"error": {"message": "Rate limit reached", "type": "requests"}}),
        (503, {"error": {"message": "overloaded"}}),
        (200, completion('{"urgent": true, "topic": "billing"}')),
    )
    result = await run_graph(
        temporal_client, task_queue, triage(), {"customer": "ana", "text": "I was charged twice"},
        environ(service),
    )  # fmt: skip
    assert result.order == ["classify", "is_urgent", "escalate"]
    assert result.results["escalate"] == {"queue": "urgent", "topic": "billing"}
    assert result.results["classify"]["json"] == {"urgent": True, "topic": "billing"}
    assert result.results["classify"]["usage"]["total_tokens"] == 17
    sent = service.requests_to("/v1/chat/completions")
    assert len(sent) == 3  # two retried answers, then the good one
    assert sent[-1].headers["Authorization"] == f"Bearer {API_KEY}"
    body = json.loads(sent[-1].body)
    assert body["model"] == "gpt-4o-mini"
    assert body["temperature"] == 0
    assert body["response_format"] == {"type": "json_object"}
    assert body["messages"][0]["role"] == "system"
    assert body["messages"][1] == {
        "role": "user",
        "content": "Ticket from ana: I was charged twice",
    }


async def test_client_errors_fail_at_once_with_the_services_message(
    temporal_client: Client, task_queue: str, service: LocalService
) -> None:
    service.routes["/v1/chat/completions"] = answers(
        (400, {"error": {"message": "Unknown model 'gpt-4o-mini'"}})
    )
    message = await node_failure(temporal_client, task_queue, triage(), environ(service))
    assert message == (
        "node 'classify' failed: node 'classify': the AI endpoint returned HTTP 400: "
        "Unknown model 'gpt-4o-mini'"
    )
    assert len(service.requests_to("/v1/chat/completions")) == 1
    assert API_KEY not in message


async def test_an_answer_that_is_not_json_fails_when_json_was_asked(
    temporal_client: Client, task_queue: str, service: LocalService
) -> None:
    service.routes["/v1/chat/completions"] = answers((200, completion("Sure! It is urgent.")))
    message = await node_failure(temporal_client, task_queue, triage(), environ(service))
    assert message.startswith(
        "node 'classify' failed: node 'classify': response_format is json, "
        "but the answer is not JSON"
    )


async def test_endpoint_must_be_configured_and_allowed(
    temporal_client: Client, task_queue: str, service: LocalService
) -> None:
    not_allowed = environ(service, QUEUEFLEET_GRAPHS_HTTP_ALLOW="api.openai.com")
    message = await node_failure(temporal_client, task_queue, triage(), not_allowed)
    assert "is not on the worker's HTTP allow-list" in message
    unconfigured = {"QUEUEFLEET_GRAPHS_HTTP_ALLOW": f"127.0.0.1:{service.port}"}
    message = await node_failure(temporal_client, task_queue, triage(), unconfigured)
    assert message.endswith(
        "no AI endpoint is configured on this worker (set QUEUEFLEET_GRAPHS_AI_BASE_URL)"
    )
    assert service.requests == []


async def test_key_from_a_file_default_model_and_capped_text(
    temporal_client: Client, task_queue: str, service: LocalService, tmp_path: Path
) -> None:
    service.routes["/v1/chat/completions"] = answers((200, completion("word " * 20_000)))
    key_file = tmp_path / "api-key"
    key_file.write_text("sk-from-file\n")
    env = environ(
        service,
        QUEUEFLEET_GRAPHS_AI_API_KEY="",
        QUEUEFLEET_GRAPHS_AI_API_KEY_FILE=str(key_file),
        QUEUEFLEET_GRAPHS_AI_MODEL="local-model",
    )
    graph = {
        "options": {"max_result_bytes": 2048},
        "nodes": [{"name": "write", "type": "ai_agent", "prompt": "Write about {{input.topic}}"}],
        "edges": [{"type": "start", "to": "write"}],
    }
    result = await run_graph(temporal_client, task_queue, graph, {"topic": "queues"}, env)
    [sent] = service.requests_to("/v1/chat/completions")
    assert sent.headers["Authorization"] == "Bearer sk-from-file"
    assert json.loads(sent.body) == {
        "model": "local-model",
        "messages": [{"role": "user", "content": "Write about queues"}],
    }
    written = result.results["write"]
    assert written["text_truncated"] is True
    assert len(json.dumps(written)) <= 2048


async def test_api_call_is_the_http_node_under_its_seed_name(
    temporal_client: Client, task_queue: str, service: LocalService
) -> None:
    service.routes["/inventory/"] = lambda r: (200, {"count": 3})
    service.routes["/reservations"] = lambda r: (201, {"reserved": json.loads(r.body)})
    env = {"QUEUEFLEET_GRAPHS_HTTP_ALLOW": f"127.0.0.1:{service.port}"}
    result = await run_graph(
        temporal_client, task_queue, example("api-call-alias.json"),
        {"api": service.base_url, "sku": "sku-1"}, env,
    )  # fmt: skip
    assert result.order == ["inventory", "in_stock", "reserve"]
    assert result.results["reserve"]["status"] == 201
    assert result.results["reserve"]["body"] == {"reserved": {"sku": "sku-1", "count": 1}}
