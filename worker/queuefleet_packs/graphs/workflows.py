"""`GraphWorkflow`: runs a graph of nodes and edges given as JSON when the run starts.

The graph is validated before any node runs. Ready nodes start together (up to the graph's
concurrency limit) in declaration order; results merge into a context that later nodes
read through templates. The run continues as new before its history passes the configured
event count, carrying the context and the state of every node and edge.
"""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError, FailureError

with workflow.unsafe.imports_passed_through():
    from .activities import HTTP_REQUEST_ACTIVITY, WEBHOOK_ACTIVITY, HttpRequest, WebhookRequest
    from .expressions import ExpressionError, compile_expression, render
    from .limits import fit_result
    from .model import Graph, GraphError, Node
    from .scheduler import Checkpoint, GraphRun, NodeOutcome
    from .validator import parse_graph

__all__ = ["ApprovalDecision", "GraphResult", "GraphRunInput", "GraphWorkflow"]

DEFAULT_ACTIVITY_TIMEOUT_SECONDS = 30.0
DEFAULT_APPROVAL_TIMEOUT_SECONDS = 24 * 3600.0
DEFAULT_MAXIMUM_ATTEMPTS = 3


@dataclass
class ApprovalDecision:
    """The `approve` signal's argument: the decision for one approval node."""

    node: str
    approved: bool
    by: str = ""
    comment: str = ""


@dataclass
class GraphRunInput:
    graph: dict[str, Any]
    input: dict[str, Any] = field(default_factory=dict)
    # Set only when a run continues as new.
    checkpoint: Checkpoint | None = None
    approvals: dict[str, ApprovalDecision] = field(default_factory=dict)


@dataclass
class GraphResult:
    graph: str
    results: dict[str, Any]  # node name -> result (failed nodes that continued: {"error": ...})
    order: list[str]  # nodes in the order they finished
    skipped: list[str]
    failed: list[str]
    continued_as_new: int


@dataclass
class _Settled:
    name: str
    outcome: NodeOutcome
    result: Any
    branch: bool | None = None
    error: str | None = None


class _NodeError(Exception):
    """A node could not run with the data it was given (not a Temporal failure)."""


@workflow.defn(name="GraphWorkflow")
class GraphWorkflow:
    def __init__(self) -> None:
        self._approvals: dict[str, ApprovalDecision] = {}
        self._run: GraphRun | None = None

    @workflow.signal(name="approve")
    def approve(self, decision: ApprovalDecision) -> None:
        # the first decision counts; later ones for the same node are ignored
        self._approvals.setdefault(decision.node, decision)

    @workflow.query(name="status")
    def status(self) -> dict[str, str]:
        """Each node's status: pending, running, completed, failed or skipped."""
        return dict(self._run.status) if self._run else {}

    @workflow.run
    async def run(self, request: GraphRunInput) -> GraphResult:
        try:
            graph = parse_graph(request.graph)
        except GraphError as error:
            raise ApplicationError(
                f"invalid graph: {error}", type="InvalidGraph", non_retryable=True
            ) from None
        for name, decision in request.approvals.items():
            self._approvals.setdefault(name, decision)
        checkpoint = request.checkpoint or Checkpoint()
        run = self._run = GraphRun(graph, request.checkpoint)
        results: dict[str, Any] = dict(checkpoint.results)
        order = list(checkpoint.order)
        settled: list[_Settled] = []
        running: dict[str, asyncio.Task[None]] = {}
        waiting: list[str] = []  # ready, but over the concurrency limit
        draining = False

        while True:
            draining = draining or self._history_full(graph)
            if not draining:
                waiting.extend(run.ready())
                while waiting and len(running) < graph.options.max_concurrent_nodes:
                    name = waiting.pop(0)
                    running[name] = asyncio.create_task(
                        self._run_node(graph, graph.node(name), request.input, results, settled)
                    )
            if not running:
                if run.done:
                    break
                if not draining:
                    raise ApplicationError(
                        "graph run stalled: no node can start", non_retryable=True
                    )
                for name in waiting:
                    run.release(name)
                workflow.continue_as_new(
                    GraphRunInput(
                        graph=request.graph,
                        input=request.input,
                        checkpoint=run.checkpoint(
                            results=results, order=order, continued=checkpoint.continued + 1
                        ),
                        approvals=dict(self._approvals),
                    )
                )
            await workflow.wait_condition(lambda: bool(settled))
            batch, settled[:] = list(settled), []
            for done in batch:
                running.pop(done.name)
                node = graph.node(done.name)
                if done.error is not None and node.on_error == "fail":
                    raise ApplicationError(
                        f"node {done.name!r} failed: {done.error}",
                        type="NodeFailed",
                        non_retryable=True,
                    )
                results[done.name] = done.result
                order.append(done.name)
                run.finish(done.name, done.outcome, branch=done.branch)

        return GraphResult(
            graph=graph.name,
            results=results,
            order=order,
            skipped=run.skipped,
            failed=[n for n, s in run.status.items() if s == "failed"],
            continued_as_new=checkpoint.continued,
        )

    @staticmethod
    def _history_full(graph: Graph) -> bool:
        info = workflow.info()
        return (
            info.get_current_history_length() >= graph.options.max_history_events
            or info.is_continue_as_new_suggested()
        )

    async def _run_node(
        self,
        graph: Graph,
        node: Node,
        run_input: dict[str, Any],
        results: dict[str, Any],
        settled: list[_Settled],
    ) -> None:
        # A node sees the run input and its upstream nodes; a skipped one reads as null.
        scope = {
            "input": run_input,
            **{name: results.get(name) for name in sorted(graph.ancestors[node.name])},
        }
        try:
            result, branch = await self._execute(graph, node, scope)
        except (ExpressionError, _NodeError) as error:
            settled.append(_Settled(node.name, "failed", {"error": str(error)}, error=str(error)))
            return
        except (ActivityError, ChildWorkflowError) as error:
            cause = error.cause
            message = cause.message if isinstance(cause, FailureError) else str(error)
            settled.append(_Settled(node.name, "failed", {"error": message}, error=message))
            return
        fitted = fit_result(result, graph.options.max_result_bytes)
        settled.append(_Settled(node.name, "completed", fitted, branch=branch))

    async def _execute(
        self, graph: Graph, node: Node, scope: dict[str, Any]
    ) -> tuple[Any, bool | None]:
        spec = node.spec
        if node.type == "transform":
            return render(spec["output"], scope), None
        if node.type == "condition":
            source = str(spec["expression"]).strip()
            if source.startswith("{{") and source.endswith("}}"):
                source = source[2:-2]
            value = bool(compile_expression(source).evaluate(scope))
            return {"value": value}, value
        if node.type == "delay":
            await workflow.sleep(timedelta(seconds=float(spec["seconds"])))
            return {"slept_seconds": spec["seconds"]}, None
        if node.type == "approval":
            return await self._approval(node)
        if node.type == "http":
            return await self._http(graph, node, scope), None
        if node.type == "webhook":
            return await self._webhook(graph, node, scope), None
        if node.type == "child":
            return await self._child(node, scope), None
        raise _NodeError(f"unknown node type {node.type!r}")  # the validator prevents this

    async def _approval(self, node: Node) -> tuple[dict[str, Any], bool]:
        timeout = float(node.spec.get("timeout_seconds", DEFAULT_APPROVAL_TIMEOUT_SECONDS))
        try:
            await workflow.wait_condition(
                lambda: node.name in self._approvals, timeout=timedelta(seconds=timeout)
            )
        except TimeoutError:
            reason = f"no decision within {timeout:g} seconds"
            return {"approved": False, "timed_out": True, "by": "", "comment": reason}, False
        decision = self._approvals[node.name]
        result = {
            "approved": decision.approved,
            "timed_out": False,
            "by": decision.by,
            "comment": decision.comment,
        }
        return result, decision.approved

    async def _http(self, graph: Graph, node: Node, scope: dict[str, Any]) -> Any:
        spec = node.spec
        request = HttpRequest(
            node=node.name,
            url=_text(render(spec["url"], scope), node, "url"),
            method=spec.get("method", "GET"),
            headers={
                k: _text(v, node, f"headers.{k}")
                for k, v in render(spec.get("headers", {}), scope).items()
            },
            query={
                k: _text(v, node, f"query.{k}")
                for k, v in render(spec.get("query", {}), scope).items()
            },
            body=render(spec["body"], scope) if "body" in spec else None,
            expect_status=list(spec.get("expect_status", [])),
            timeout_seconds=float(spec.get("timeout_seconds", DEFAULT_ACTIVITY_TIMEOUT_SECONDS)),
            max_result_bytes=graph.options.max_result_bytes,
        )
        return await workflow.execute_activity(
            HTTP_REQUEST_ACTIVITY,
            request,
            result_type=dict,
            start_to_close_timeout=timedelta(seconds=request.timeout_seconds),
            retry_policy=_retry_policy(node),
            summary=node.name,
        )

    async def _webhook(self, graph: Graph, node: Node, scope: dict[str, Any]) -> Any:
        spec = node.spec
        request = WebhookRequest(
            node=node.name,
            url=_text(render(spec["url"], scope), node, "url"),
            payload=render(spec.get("payload"), scope),
            headers={
                k: _text(v, node, f"headers.{k}")
                for k, v in render(spec.get("headers", {}), scope).items()
            },
            sign_with=spec.get("sign_with"),
            timeout_seconds=float(spec.get("timeout_seconds", DEFAULT_ACTIVITY_TIMEOUT_SECONDS)),
            max_result_bytes=graph.options.max_result_bytes,
        )
        return await workflow.execute_activity(
            WEBHOOK_ACTIVITY,
            request,
            result_type=dict,
            start_to_close_timeout=timedelta(seconds=request.timeout_seconds),
            retry_policy=_retry_policy(node),
            summary=node.name,
        )

    async def _child(self, node: Node, scope: dict[str, Any]) -> Any:
        spec = node.spec
        child_input = render(spec.get("input", {}), scope)
        child_id = f"{workflow.info().workflow_id}.{node.name}"
        timeout = (
            timedelta(seconds=float(spec["timeout_seconds"])) if "timeout_seconds" in spec else None
        )
        if "graph" in spec:
            if not isinstance(child_input, dict):
                raise _NodeError(
                    "a child graph's 'input' must render to an object, "
                    f"got {type(child_input).__name__}"
                )
            result = await workflow.execute_child_workflow(
                GraphWorkflow.run,
                GraphRunInput(graph=spec["graph"], input=child_input),
                id=child_id,
                task_queue=spec.get("task_queue") or workflow.info().task_queue,
                execution_timeout=timeout,
            )
            return dataclasses.asdict(result)
        return await workflow.execute_child_workflow(
            spec["workflow"],
            child_input,
            id=child_id,
            task_queue=spec.get("task_queue") or workflow.info().task_queue,
            execution_timeout=timeout,
        )


def _text(value: Any, node: Node, field_name: str) -> str:
    if isinstance(value, dict | list):
        raise _NodeError(f"{field_name!r} must render to text, got an object or list")
    return "" if value is None else str(value)


def _retry_policy(node: Node) -> RetryPolicy:
    retry = node.spec.get("retry", {})
    return RetryPolicy(
        maximum_attempts=int(retry.get("maximum_attempts", DEFAULT_MAXIMUM_ATTEMPTS)),
        initial_interval=timedelta(seconds=float(retry.get("initial_interval_seconds", 1))),
        backoff_coefficient=float(retry.get("backoff_coefficient", 2.0)),
        maximum_interval=timedelta(seconds=float(retry.get("maximum_interval_seconds", 60))),
        non_retryable_error_types=["HostNotAllowed", "SecretMissing"],
    )
