"""`GraphWorkflow`: runs a graph of nodes and edges given as JSON when the run starts.

The graph is validated before any node runs. Ready nodes start together (up to the graph's
concurrency limit) in declaration order; results merge into a context that later nodes
read through templates. The run continues as new before its history passes the configured
event count, carrying the context and the state of every node and edge.

A graph is untrusted input, so every outcome is one of two: the graph is rejected before
anything runs (`InvalidGraph`), or a node fails (`NodeFailed`, naming the node and the
reason, unless the node continues on error). Whatever a node's data does, an exception
from it becomes that node's failure, never a workflow-task failure retried forever. The
carried context (graph, input and results) stays under CARRIED_CONTEXT_BYTES, so the
Continue-As-New input and the final result always fit in a Temporal payload.

Approval decisions (the `approve` signal) count only while their node waits and only from
one of its `approvers` when it lists any; every other decision is rejected and recorded
(the `decisions` query, and `rejected` in the node's result).
"""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from temporalio import workflow
from temporalio.common import RawValue, RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError, FailureError

with workflow.unsafe.imports_passed_through():
    from .activities import HTTP_REQUEST_ACTIVITY, WEBHOOK_ACTIVITY, HttpRequest, WebhookRequest
    from .callbacks import CALLBACK_ACTIVITY, callback_request
    from .children import (
        GRAPH_WORKFLOW,
        RunTree,
        allocations,
        policy_for,
        run_limits,
        tree_problems,
    )
    from .expressions import ExpressionError, compile_expression, render
    from .limits import CARRIED_CONTEXT_BYTES, LimitError, encoded_size, fit_result_sized
    from .model import Graph, GraphError, Node
    from .nodes_ai import AI_CHAT_ACTIVITY, chat_request
    from .nodes_database import DATABASE_QUERY_ACTIVITY, database_query
    from .scheduler import Checkpoint, GraphRun, NodeOutcome
    from .validator import parse_graph

__all__ = ["ApprovalDecision", "GraphResult", "GraphRunInput", "GraphWorkflow"]

DEFAULT_ACTIVITY_TIMEOUT_SECONDS = 30.0
DEFAULT_APPROVAL_TIMEOUT_SECONDS = 24 * 3600.0
DEFAULT_MAXIMUM_ATTEMPTS = 3
# Histories recorded before approvals were checked replay with the old rule.
STRICT_APPROVALS_PATCH = "graphs-strict-approvals"
_MAX_ERROR_TEXT = 2000
_MAX_REJECTED = 50


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
    # Set by a parent graph for its child runs: the share of the run tree's budget.
    tree: RunTree | None = None


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
    size: int = 0  # JSON bytes of `result`


class _NodeError(Exception):
    """A node could not run with the data it was given (not a Temporal failure)."""


if TYPE_CHECKING:
    _Request = GraphRunInput  # what callers pass
else:
    # What the SDK hands `run`: the undecoded payload. `run` decodes it itself, so an input
    # the JSON decoder cannot take (nested about 990 levels deep, or of the wrong shape)
    # fails the run as InvalidGraph; decoded by the SDK, it would fail every workflow task
    # and be retried forever.
    _Request = RawValue


# A RecursionError anywhere in the run fails the run, never the task: it would recur.
@workflow.defn(name="GraphWorkflow", failure_exception_types=[RecursionError])
class GraphWorkflow:
    def __init__(self) -> None:
        self._approvals: dict[str, ApprovalDecision] = {}
        self._run: GraphRun | None = None
        self._waiting_approval: dict[str, tuple[str, ...]] = {}  # node -> its approvers
        self._rejected: list[dict[str, str]] = []

    @workflow.signal(name="approve")
    def approve(self, decision: ApprovalDecision) -> None:
        if not workflow.patched(STRICT_APPROVALS_PATCH):
            self._approvals.setdefault(decision.node, decision)
            return
        reason = self._refusal(decision)
        if reason is None:
            self._approvals[decision.node] = decision
            return
        record = {"node": str(decision.node)[:100], "by": str(decision.by)[:200], "reason": reason}
        workflow.logger.warning("approval decision rejected: %s", record)
        if len(self._rejected) < _MAX_REJECTED:
            self._rejected.append(record)

    def _refusal(self, decision: ApprovalDecision) -> str | None:
        if decision.node not in self._waiting_approval:
            return f"node {str(decision.node)[:100]!r} is not waiting for a decision"
        if decision.node in self._approvals:
            return f"node {decision.node!r} is already decided"
        approvers = self._waiting_approval[decision.node]
        if approvers and decision.by not in approvers:
            return f"{str(decision.by)[:200]!r} is not one of the node's approvers"
        return None

    @workflow.query(name="decisions")
    def decisions(self) -> dict[str, Any]:
        """Accepted decisions by node, and every rejected one with the reason."""
        return {
            "accepted": {n: dataclasses.asdict(d) for n, d in self._approvals.items()},
            "rejected": list(self._rejected),
        }

    @workflow.query(name="status")
    def status(self) -> dict[str, str]:
        """Each node's status: pending, running, completed, failed or skipped."""
        return dict(self._run.status) if self._run else {}

    @workflow.run
    async def run(self, request: _Request) -> GraphResult:
        request = _decoded(request)
        try:
            graph = parse_graph(request.graph)
            tree = request.tree or RunTree()
            problems = tree_problems(graph, tree) + self._child_policy_problems(graph)
            if problems:
                raise GraphError(problems)
            carried = _fixed_context_bytes(graph, request)
        except GraphError as error:
            raise ApplicationError(
                f"invalid graph: {error}", type="InvalidGraph", non_retryable=True
            ) from None
        shares = allocations(graph, tree)
        _, max_depth = run_limits(graph, tree)
        for name, decision in request.approvals.items():
            self._approvals.setdefault(name, decision)
        checkpoint = request.checkpoint or Checkpoint()
        try:
            run = self._run = GraphRun(graph, request.checkpoint)
        except (KeyError, ValueError, TypeError) as error:  # a starter-made checkpoint
            raise ApplicationError(
                f"invalid graph: the checkpoint does not fit the graph: {_preview_error(error)}",
                type="InvalidGraph",
                non_retryable=True,
            ) from None
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
                        self._run_node(
                            graph,
                            graph.node(name),
                            request.input,
                            results,
                            settled,
                            _ChildPlace(tree, shares.get(name, 0), max_depth),
                        )
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
                        tree=request.tree,
                    )
                )
            await workflow.wait_condition(lambda: bool(settled))
            batch, settled[:] = list(settled), []
            for done in batch:
                running.pop(done.name)
                node = graph.node(done.name)
                if done.error is None and carried + done.size > CARRIED_CONTEXT_BYTES:
                    done = _failed(
                        done.name,
                        f"its result ({done.size} bytes) would bring the run's carried context "
                        f"to {carried + done.size} bytes, over the limit of "
                        f"{CARRIED_CONTEXT_BYTES} (Temporal's 2 MiB payload limit, less a "
                        "margin); lower max_result_bytes or return less",
                    )
                if done.error is not None and node.on_error == "fail":
                    raise ApplicationError(
                        f"node {done.name!r} failed: {done.error}",
                        type="NodeFailed",
                        non_retryable=True,
                    )
                carried += done.size
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

    def _child_policy_problems(self, graph: Graph) -> list[str]:
        own = workflow.info().task_queue
        policy = policy_for(own)
        problems = []
        for node in graph.nodes:
            if node.type != "child":
                continue
            kind = str(node.spec.get("workflow", GRAPH_WORKFLOW))
            queue = str(node.spec.get("task_queue") or own)
            if not policy.allows(kind, queue, own):
                problems.append(
                    f"node {node.name!r}: workflow {kind!r} on task queue {queue!r} is not on "
                    f"this worker's child workflow allow-list ({policy.describe() or 'empty'})"
                )
        return problems

    async def _run_node(
        self,
        graph: Graph,
        node: Node,
        run_input: dict[str, Any],
        results: dict[str, Any],
        settled: list[_Settled],
        place: _ChildPlace,
    ) -> None:
        # A node sees the run input and its upstream nodes; a skipped one reads as null.
        scope = {
            "input": run_input,
            **{name: results.get(name) for name in sorted(graph.ancestors[node.name])},
        }
        try:
            result, branch = await self._execute(graph, node, scope, place)
            fitted, size = fit_result_sized(result, graph.options.max_result_bytes)
        except (ExpressionError, _NodeError, LimitError) as error:
            settled.append(_failed(node.name, str(error)))
            return
        except (ActivityError, ChildWorkflowError) as error:
            cause = error.cause
            message = cause.message if isinstance(cause, FailureError) else str(error)
            settled.append(_failed(node.name, message))
            return
        except workflow.NondeterminismError:
            raise
        except Exception as error:  # e.g. a child workflow id already taken: the node fails
            settled.append(_failed(node.name, f"{type(error).__name__}: {error}"))
            return
        settled.append(_Settled(node.name, "completed", fitted, branch=branch, size=size))

    async def _execute(
        self, graph: Graph, node: Node, scope: dict[str, Any], place: _ChildPlace
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
        if node.type == "database":
            query = database_query(
                node.name, spec, scope, max_result_bytes=graph.options.max_result_bytes
            )
            return await self._activity(node, DATABASE_QUERY_ACTIVITY, query), None
        if node.type == "ai_agent":
            chat = chat_request(
                node.name, spec, scope, max_result_bytes=graph.options.max_result_bytes
            )
            return await self._activity(node, AI_CHAT_ACTIVITY, chat), None
        if node.type == "callback":
            handoff = callback_request(node.name, spec, scope)
            wait = handoff.timeout_seconds  # how long the callback may take
            return await self._activity(node, CALLBACK_ACTIVITY, handoff, seconds=wait), None
        if node.type in ("http", "api_call"):
            return await self._http(graph, node, scope), None
        if node.type == "webhook":
            return await self._webhook(graph, node, scope), None
        if node.type == "child":
            return await self._child(node, scope, place), None
        raise _NodeError(f"unknown node type {node.type!r}")  # the validator prevents this

    async def _approval(self, node: Node) -> tuple[dict[str, Any], bool]:
        timeout = float(node.spec.get("timeout_seconds", DEFAULT_APPROVAL_TIMEOUT_SECONDS))
        self._waiting_approval[node.name] = tuple(node.spec.get("approvers") or ())
        try:
            await workflow.wait_condition(
                lambda: node.name in self._approvals, timeout=timedelta(seconds=timeout)
            )
        except TimeoutError:
            reason = f"no decision within {timeout:g} seconds"
            result = {"approved": False, "timed_out": True, "by": "", "comment": reason}
            return self._with_rejected(node, result), False
        finally:
            self._waiting_approval.pop(node.name, None)
        decision = self._approvals[node.name]
        result = {
            "approved": bool(decision.approved),
            "timed_out": False,
            "by": str(decision.by)[:200],
            "comment": str(decision.comment)[:_MAX_ERROR_TEXT],
        }
        return self._with_rejected(node, result), bool(decision.approved)

    def _with_rejected(self, node: Node, result: dict[str, Any]) -> dict[str, Any]:
        rejected = [r for r in self._rejected if r["node"] == node.name]
        return {**result, "rejected": rejected} if rejected else result

    @staticmethod
    async def _activity(
        node: Node, activity_name: str, request: Any, *, seconds: float | None = None
    ) -> Any:
        # the activity gets a little longer than its own timeout to connect and report
        own = seconds or float(node.spec.get("timeout_seconds", DEFAULT_ACTIVITY_TIMEOUT_SECONDS))
        timeout = own + 5
        _check_payload(request, "request")
        return await workflow.execute_activity(
            activity_name,
            request,
            result_type=dict,
            start_to_close_timeout=timedelta(seconds=timeout),
            retry_policy=_retry_policy(node),
            summary=node.name,
        )

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
        _check_payload(request, "request")
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
        _check_payload(request, "request")
        return await workflow.execute_activity(
            WEBHOOK_ACTIVITY,
            request,
            result_type=dict,
            start_to_close_timeout=timedelta(seconds=request.timeout_seconds),
            retry_policy=_retry_policy(node),
            summary=node.name,
        )

    async def _child(self, node: Node, scope: dict[str, Any], place: _ChildPlace) -> Any:
        spec = node.spec
        child_input = render(spec.get("input", {}), scope)
        child_id = f"{workflow.info().workflow_id}.{node.name}"
        task_queue = spec.get("task_queue") or workflow.info().task_queue
        timeout = (
            timedelta(seconds=float(spec["timeout_seconds"])) if "timeout_seconds" in spec else None
        )
        kind = spec.get("workflow", GRAPH_WORKFLOW)
        if kind != GRAPH_WORKFLOW:
            _check_payload(child_input, "child input")
            return await workflow.execute_child_workflow(
                kind, child_input, id=child_id, task_queue=task_queue, execution_timeout=timeout
            )
        # GraphWorkflow children, inline or taken from data, get their share of the tree;
        # the run input never chooses it.
        if "graph" in spec:
            graph_json, graph_input = spec["graph"], child_input
        elif isinstance(child_input, dict) and set(child_input) <= {"graph", "input"}:
            graph_json, graph_input = child_input.get("graph"), child_input.get("input", {})
        else:
            raise _NodeError(f"a {GRAPH_WORKFLOW} child's 'input' must be {{graph, input}}")
        if not isinstance(graph_input, dict) or not isinstance(graph_json, dict):
            raise _NodeError("a child graph and its 'input' must render to objects")
        parent = place.tree
        request = GraphRunInput(
            graph=graph_json,
            input=graph_input,
            tree=RunTree(
                depth=parent.depth + 1,
                budget=max(place.share - 1, 0),
                max_depth=place.max_depth,
            ),
        )
        _check_payload(request, "child input")
        result = await workflow.execute_child_workflow(
            GraphWorkflow.run,
            request,
            id=child_id,
            task_queue=task_queue,
            execution_timeout=timeout,
        )
        return dataclasses.asdict(result)


@dataclass
class _ChildPlace:
    """Where a node's child workflow would sit: its parent's tree and its share of it."""

    tree: RunTree
    share: int  # child workflows this node may start, itself included
    max_depth: int  # the deepest level its run tree may reach


def _decoded(request: Any) -> GraphRunInput:
    if isinstance(request, GraphRunInput):
        return request
    try:
        decoded = workflow.payload_converter().from_payload(request.payload, GraphRunInput)
    except Exception as error:  # RecursionError, TypeError... wrapped by the converter
        cause = error.__cause__ or error
        raise ApplicationError(
            f"invalid graph: the run input cannot be decoded: {type(cause).__name__}: "
            f"{str(cause)[:300]}",
            type="InvalidGraph",
            non_retryable=True,
        ) from None
    if not isinstance(decoded, GraphRunInput) or not isinstance(decoded.graph, dict):
        raise ApplicationError(
            "invalid graph: the run input must be an object with 'graph' (an object)",
            type="InvalidGraph",
            non_retryable=True,
        )
    return decoded


def _preview_error(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}"
    return text[:300]


def _failed(name: str, message: str) -> _Settled:
    text = message if len(message) <= _MAX_ERROR_TEXT else message[:_MAX_ERROR_TEXT] + "..."
    return _Settled(name, "failed", {"error": text}, error=text, size=len(text) + 16)


def _check_payload(value: Any, what: str) -> None:
    """A node's request must fit in one Temporal payload, with the same margin as results."""
    try:
        plain = (
            dataclasses.asdict(value)
            if dataclasses.is_dataclass(value) and not isinstance(value, type)
            else value
        )
        size = encoded_size(plain)
    except LimitError as error:
        raise _NodeError(f"the {what} {error}") from None
    if size > CARRIED_CONTEXT_BYTES:
        raise _NodeError(
            f"the {what} would be {size} bytes, over the limit of {CARRIED_CONTEXT_BYTES} "
            "(Temporal's 2 MiB payload limit, less a margin)"
        )


def _fixed_context_bytes(graph: Graph, request: GraphRunInput) -> int:
    """What every Continue-As-New input and result carries besides node results: the graph,
    the input, and each node's and edge's state and name."""
    try:
        size = encoded_size(request.graph) + encoded_size(request.input)
    except LimitError as error:
        raise GraphError([f"graph: the graph or its input {error}"]) from None
    size += sum(3 * len(n.name) + 40 for n in graph.nodes) + 16 * len(graph.edges)
    size += sum(
        encoded_size(r) for r in (request.checkpoint.results if request.checkpoint else {}).values()
    )
    if size > CARRIED_CONTEXT_BYTES:
        raise GraphError(
            [
                f"graph: the graph and its input take {size} bytes, over the limit of "
                f"{CARRIED_CONTEXT_BYTES} for what a run carries (Temporal's 2 MiB payload "
                "limit, less a margin)"
            ]
        )
    return size


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
