"""`queuefleet graph validate|run FILE`, and the graph store's actions (see graph_store.py)."""

from __future__ import annotations

import argparse
import uuid
from typing import Any

from queuefleet_cli.errors import CommandError

from .common import PACKS, add_connection_arguments, connect, load_document, print_json, run_async
from .graph_store import ACTIONS as STORE_ACTIONS
from .graph_store import add_store_actions, run_store_action
from .options import DeprecatedAlias, add_input_arguments, read_input

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    validate = actions.add_parser(
        "validate",
        help="check a graph file",
        description="Check a graph file completely; needs no server.",
    )
    validate.add_argument("file", help="graph as JSON or YAML (see examples/graphs/)")
    run_parser = actions.add_parser(
        "run", help="run a graph", description="Validate a graph, then run it on GraphWorkflow."
    )
    run_parser.add_argument("file", help="graph as JSON or YAML")
    add_input_arguments(run_parser, what="graph's input object")
    run_parser.add_argument(
        "-t", "--task-queue", default=PACKS["graphs"].task_queue, help="default: graphs.v1"
    )
    run_parser.add_argument(
        "-w", "--workflow-id", dest="workflow_id", help="workflow id (default: graph-<random>)"
    )
    run_parser.add_argument(
        "--id",
        dest="workflow_id",
        action=DeprecatedAlias,
        use="-w/--workflow-id",
        help="deprecated",
    )
    run_parser.add_argument(
        "--no-wait", action="store_true", help="print the id and return without waiting"
    )
    add_connection_arguments(run_parser)
    add_store_actions(actions)


def load_graph(path: str) -> tuple[dict[str, Any], str]:
    from queuefleet_packs.graphs.model import GraphError
    from queuefleet_packs.graphs.validator import parse_graph

    raw = load_document(path, what="graph")
    try:
        graph = parse_graph(raw)
    except GraphError as error:
        count = len(error.problems)
        raise CommandError(
            f"{path}: invalid graph ({count} problem{'s' if count > 1 else ''}): {error}"
        ) from None
    return (
        raw,
        f"{path}: valid graph {graph.name!r} ({len(graph.nodes)} nodes, {len(graph.edges)} edges)",
    )


def run(args: argparse.Namespace) -> int:
    if args.action in STORE_ACTIONS:
        return run_store_action(args)
    raw, summary = load_graph(args.file)
    if args.action == "validate":
        print(summary)
        return 0
    graph_input = read_input(args)
    if graph_input is None:
        graph_input = {}
    if not isinstance(graph_input, dict):
        raise CommandError("the graph's input must be a JSON object, e.g. '{\"amount\": 100}'")
    return run_async(lambda: _run(args, raw, graph_input), args)


async def _run(args: argparse.Namespace, raw: dict[str, Any], graph_input: dict[str, Any]) -> int:
    import dataclasses

    from temporalio.client import WorkflowFailureError

    from queuefleet_packs.graphs.workflows import GraphRunInput, GraphWorkflow

    client = await connect(args)
    args.workflow_id = args.workflow_id or f"graph-{uuid.uuid4()}"
    handle = await client.start_workflow(
        GraphWorkflow.run,
        GraphRunInput(graph=raw, input=graph_input),
        id=args.workflow_id,
        task_queue=args.task_queue,
    )
    print(f"started GraphWorkflow id={handle.id} task-queue={args.task_queue}")
    if args.no_wait:
        return 0
    try:
        result = await handle.result()
    except WorkflowFailureError as error:
        cause = error.cause
        raise CommandError(
            f"graph run {handle.id} failed: {getattr(cause, 'message', None) or cause}"
        ) from None
    print_json(dataclasses.asdict(result))
    return 0
