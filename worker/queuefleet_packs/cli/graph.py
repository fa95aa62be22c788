"""`queuefleet graph validate FILE` and `queuefleet graph run FILE`."""

from __future__ import annotations

import argparse
import uuid
from typing import Any

from queuefleet_worker.cli import CommandError

from .common import PACKS, add_connection_arguments, connect, load_document, print_json, run_async

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
    run_parser.add_argument("--input", help="the graph's input object: inline JSON, a file, or -")
    run_parser.add_argument(
        "--task-queue", default=PACKS["graphs"].task_queue, help="default: graphs.v1"
    )
    run_parser.add_argument(
        "--id", dest="workflow_id", help="workflow id (default: graph-<random>)"
    )
    run_parser.add_argument(
        "--no-wait", action="store_true", help="print the id and return without waiting"
    )
    add_connection_arguments(run_parser)


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
    raw, summary = load_graph(args.file)
    if args.action == "validate":
        print(summary)
        return 0
    graph_input = load_document(args.input) if args.input else {}
    if not isinstance(graph_input, dict):
        raise CommandError("--input must be a JSON object")
    return run_async(lambda: _run(args, raw, graph_input))


async def _run(args: argparse.Namespace, raw: dict[str, Any], graph_input: dict[str, Any]) -> int:
    import dataclasses

    from temporalio.client import WorkflowFailureError

    from queuefleet_packs.graphs.workflows import GraphRunInput, GraphWorkflow

    client = await connect(args)
    handle = await client.start_workflow(
        GraphWorkflow.run,
        GraphRunInput(graph=raw, input=graph_input),
        id=args.workflow_id or f"graph-{uuid.uuid4()}",
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
