"""`queuefleet workflow`: start, signal, query, describe, cancel and list workflows."""

from __future__ import annotations

import argparse
import uuid
from datetime import timedelta
from typing import Any

from queuefleet_worker.cli import CommandError

from .common import PACKS, add_connection_arguments, connect, load_document, print_json, run_async

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    start = actions.add_parser(
        "start", help="start a workflow", description="Start a workflow from JSON/YAML input."
    )
    start.add_argument(
        "--pack", choices=sorted(PACKS), help="a shipped pack: sets --type, --task-queue and the id"
    )
    start.add_argument(
        "--type", dest="workflow_type", help="workflow type name, e.g. LabProvisionWorkflow"
    )
    start.add_argument("--task-queue", help="task queue the workflow runs on")
    start.add_argument(
        "--input", help="the workflow's argument: inline JSON, a .json/.yaml file, or - for stdin"
    )
    start.add_argument(
        "--id", dest="workflow_id", help="workflow id (default: from the pack, else random)"
    )
    start.add_argument(
        "--execution-timeout", type=float, metavar="SECONDS", help="fail the run after this long"
    )
    start.add_argument("--wait", action="store_true", help="wait for the result and print it")

    signal = actions.add_parser(
        "signal", help="send a signal", description="Send a signal to a running workflow."
    )
    signal.add_argument("workflow_id")
    signal.add_argument("name", help="signal name, e.g. human_review")
    signal.add_argument("--input", help="the signal's argument (inline JSON, file, or -)")

    query = actions.add_parser(
        "query", help="query a workflow", description="Query a workflow; prints JSON."
    )
    query.add_argument("workflow_id")
    query.add_argument("name", help="query name, e.g. current_phase")
    query.add_argument("--input", help="the query's argument, if it takes one")

    describe = actions.add_parser(
        "describe", help="show a workflow's state", description="Show a workflow's state."
    )
    describe.add_argument("workflow_id")

    cancel = actions.add_parser(
        "cancel", help="request cancellation", description="Request a workflow's cancellation."
    )
    cancel.add_argument("workflow_id")

    listing = actions.add_parser(
        "list", help="list workflows", description="List workflows (newest first)."
    )
    listing.add_argument(
        "--query", default="", help="visibility query, e.g. \"WorkflowType='GraphWorkflow'\""
    )
    listing.add_argument("--limit", type=int, default=20, help="at most this many (default 20)")

    for sub in (start, signal, query, describe, cancel, listing):
        add_connection_arguments(sub)


def run(args: argparse.Namespace) -> int:
    handlers = {
        "start": _start,
        "signal": _signal,
        "query": _query,
        "describe": _describe,
        "cancel": _cancel,
        "list": _list,
    }
    return run_async(lambda: handlers[args.action](args))


def start_options(args: argparse.Namespace, argument: Any) -> tuple[str, str, str]:
    """(workflow type, task queue, workflow id) from --pack and the explicit options."""
    pack = PACKS.get(args.pack) if args.pack else None
    workflow_type = args.workflow_type or (pack.workflow if pack else None)
    task_queue = args.task_queue or (pack.task_queue if pack else None)
    if not workflow_type:
        raise CommandError("--type is required (or --pack)")
    if not task_queue:
        raise CommandError("--task-queue is required (or --pack)")
    workflow_id = args.workflow_id
    if not workflow_id and pack and pack.id_field:
        if not isinstance(argument, dict) or not argument.get(pack.id_field):
            raise CommandError(
                f"the {args.pack} input needs {pack.id_field!r} (it names the workflow)"
            )
        workflow_id = f"{pack.id_prefix}-{argument[pack.id_field]}"
    return (
        workflow_type,
        task_queue,
        workflow_id or f"{(pack.id_prefix if pack else 'wf')}-{uuid.uuid4()}",
    )


async def _start(args: argparse.Namespace) -> int:
    argument = load_document(args.input) if args.input else None
    workflow_type, task_queue, workflow_id = start_options(args, argument)
    if args.execution_timeout is not None and args.execution_timeout <= 0:
        raise CommandError("--execution-timeout must be a positive number of seconds")
    client = await connect(args)
    handle = await client.start_workflow(
        workflow_type,
        *([] if argument is None else [argument]),
        id=workflow_id,
        task_queue=task_queue,
        execution_timeout=timedelta(seconds=args.execution_timeout)
        if args.execution_timeout
        else None,
    )
    print(
        f"started {workflow_type} id={handle.id} run={handle.result_run_id} task-queue={task_queue}"
    )
    if args.wait:
        from temporalio.client import WorkflowFailureError

        try:
            print_json(await handle.result())
        except WorkflowFailureError as error:
            cause = error.cause
            raise CommandError(
                f"workflow {handle.id} failed: {getattr(cause, 'message', None) or cause}"
            ) from None
    return 0


async def _signal(args: argparse.Namespace) -> int:
    argument = load_document(args.input) if args.input else None
    client = await connect(args)
    handle = client.get_workflow_handle(args.workflow_id)
    await handle.signal(args.name, *([] if argument is None else [argument]))
    print(f"signalled {args.name} to {args.workflow_id}")
    return 0


async def _query(args: argparse.Namespace) -> int:
    argument = load_document(args.input) if args.input else None
    client = await connect(args)
    handle = client.get_workflow_handle(args.workflow_id)
    print_json(await handle.query(args.name, *([] if argument is None else [argument])))
    return 0


async def _describe(args: argparse.Namespace) -> int:
    client = await connect(args)
    description = await client.get_workflow_handle(args.workflow_id).describe()
    print_json(
        {
            "id": description.id,
            "run_id": description.run_id,
            "type": description.workflow_type,
            "status": description.status.name if description.status else None,
            "task_queue": description.task_queue,
            "start_time": description.start_time,
            "close_time": description.close_time,
            "history_length": description.history_length,
        }
    )
    return 0


async def _cancel(args: argparse.Namespace) -> int:
    client = await connect(args)
    await client.get_workflow_handle(args.workflow_id).cancel()
    print(f"cancellation requested for {args.workflow_id}")
    return 0


async def _list(args: argparse.Namespace) -> int:
    if args.limit < 1:
        raise CommandError("--limit must be at least 1")
    client = await connect(args)
    rows = []
    async for execution in client.list_workflows(args.query or None, limit=args.limit):
        status = execution.status.name if execution.status else "?"
        rows.append((execution.id, execution.workflow_type, status, str(execution.start_time)))
    print(f"{'WORKFLOW ID':40} {'TYPE':24} {'STATUS':12} STARTED")
    for row in rows:
        print(f"{row[0]:40} {row[1]:24} {row[2]:12} {row[3]}")
    return 0
