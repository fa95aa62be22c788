"""`queuefleet workflow`: start, signal, query, describe, result, show, cancel, terminate, list.

Options follow the Temporal CLI (`-w/--workflow-id`, `-r/--run-id`, `-t/--task-queue`,
`-i/--input`, `--input-file`, `-o text|json|jsonl`); the positional ids of 0.1 still work
this release, with a warning.
"""

from __future__ import annotations

import argparse
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from queuefleet_cli.errors import CommandError

from .common import PACKS, add_connection_arguments, connect, run_async
from .errors import require_poller
from .options import (
    DeprecatedAlias,
    add_input_arguments,
    add_output_argument,
    add_target_arguments,
    parse_duration,
    read_input,
    resolve_positional,
)
from .output import emit, emit_rows, key_values, rfc3339

if TYPE_CHECKING:
    from temporalio.client import Client, WorkflowHandle

__all__ = ["add_arguments", "run", "start_options"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    def action(name: str, help_text: str, description: str) -> argparse.ArgumentParser:
        sub = actions.add_parser(name, help=help_text, description=description)
        add_connection_arguments(sub)
        return sub

    start = action("start", "start a workflow", "Start a workflow; prints its id and run id.")
    start.add_argument(
        "--pack", choices=sorted(PACKS), help="a shipped pack: sets --type, --task-queue and the id"
    )
    start.add_argument(
        "--type", dest="workflow_type", help="workflow type name, e.g. LabProvisionWorkflow"
    )
    start.add_argument("-t", "--task-queue", help="task queue the workflow runs on")
    add_input_arguments(start, what="workflow's argument")
    start.add_argument(
        "-w", "--workflow-id", dest="workflow_id", help="workflow id (default: from the pack)"
    )
    start.add_argument(
        "--id",
        dest="workflow_id",
        action=DeprecatedAlias,
        use="-w/--workflow-id",
        help="deprecated",
    )
    start.add_argument(
        "--execution-timeout",
        type=parse_duration,
        metavar="DURATION",
        help="fail the workflow after this long, e.g. 90s, 1h30m",
    )
    start.add_argument(
        "--wait", action="store_true", help="wait for the result and print it (see `result`)"
    )
    add_output_argument(start)

    signal = action("signal", "send a signal", "Send a signal to a running workflow.")
    add_target_arguments(signal)
    signal.add_argument("legacy_name", nargs="?", metavar="NAME", help="deprecated: use --name")
    signal.add_argument("--name", "--type", dest="name", help="signal name, e.g. approval")
    add_input_arguments(signal, what="signal's argument")

    query = action("query", "query a workflow", "Query a workflow and print the answer.")
    add_target_arguments(query)
    query.add_argument("legacy_name", nargs="?", metavar="NAME", help="deprecated: use --name")
    query.add_argument("--name", "--type", dest="name", help="query name, e.g. status")
    add_input_arguments(query, what="query's argument")
    add_output_argument(query)

    describe = action("describe", "show a workflow's state", "Show a workflow's state.")
    add_target_arguments(describe)
    add_output_argument(describe)

    result = action(
        "result", "wait for a workflow's result", "Wait for a workflow to close; print its result."
    )
    add_target_arguments(result, positional=False)
    add_output_argument(result)

    show = action("show", "print a workflow's history", "Print a workflow's event history.")
    add_target_arguments(show, positional=False)
    add_output_argument(show)

    cancel = action("cancel", "request cancellation", "Request a workflow's cancellation.")
    add_target_arguments(cancel)

    terminate = action(
        "terminate", "terminate a workflow", "End a workflow at once; its code gets no say."
    )
    add_target_arguments(terminate, positional=False)
    terminate.add_argument("--reason", default="terminated with queuefleet", help="recorded why")

    listing = action("list", "list workflows", "List workflows (newest first).")
    listing.add_argument(
        "-q",
        "--query",
        default="",
        help="visibility query, e.g. \"WorkflowType='GraphWorkflow'\"",
    )
    listing.add_argument("--limit", type=int, default=20, help="at most this many (default 20)")
    add_output_argument(listing)


def run(args: argparse.Namespace) -> int:
    handlers: Mapping[str, Callable[[argparse.Namespace], Awaitable[int]]] = {
        "start": _start,
        "signal": _signal,
        "query": _query,
        "describe": _describe,
        "result": _result,
        "show": _show,
        "cancel": _cancel,
        "terminate": _terminate,
        "list": _list,
    }
    folds = [("legacy_workflow_id", "workflow_id", "-w/--workflow-id")]
    if args.action in ("signal", "query"):
        folds.append(("legacy_name", "name", "--name"))
    if args.action not in ("start", "list"):
        resolve_positional(args, folds)
    return run_async(lambda: handlers[args.action](args), args)


def start_options(args: argparse.Namespace, argument: Any) -> tuple[str, str, str]:
    """(workflow type, task queue, workflow id) from --pack and the explicit options."""
    pack = PACKS.get(args.pack) if args.pack else None
    workflow_type = args.workflow_type or (pack.workflow if pack else None)
    task_queue = args.task_queue or (pack.task_queue if pack else None)
    if not workflow_type:
        raise CommandError("--type is required (or --pack)")
    if not task_queue:
        raise CommandError("-t/--task-queue is required (or --pack)")
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


def _handle(client: Client, args: argparse.Namespace) -> WorkflowHandle[Any, Any]:
    return client.get_workflow_handle(args.workflow_id, run_id=args.run_id)


async def _start(args: argparse.Namespace) -> int:
    argument = read_input(args)
    workflow_type, task_queue, workflow_id = start_options(args, argument)
    args.workflow_id = workflow_id
    client = await connect(args)
    handle = await client.start_workflow(
        workflow_type,
        *([] if argument is None else [argument]),
        id=workflow_id,
        task_queue=task_queue,
        execution_timeout=args.execution_timeout,
    )
    started = {
        "workflow_id": handle.id,
        "run_id": handle.result_run_id,
        "type": workflow_type,
        "task_queue": task_queue,
        "namespace": client.namespace,
    }
    if args.output == "text":
        print(
            f"started {workflow_type} id={handle.id} run={handle.result_run_id} "
            f"task-queue={task_queue}"
        )
    elif not args.wait:
        emit(started, args.output)
    if args.wait:
        result = await _await_result(handle)
        emit(result if args.output == "text" else {**started, "result": result}, args.output)
    return 0


async def _await_result(handle: WorkflowHandle[Any, Any]) -> Any:
    from temporalio.client import WorkflowFailureError

    try:
        return await handle.result()
    except WorkflowFailureError as error:
        cause = error.cause
        reason = getattr(cause, "message", None) or cause
        raise CommandError(
            f"workflow {handle.id} did not complete: {type(cause).__name__}: {reason}"
        ) from None


async def _signal(args: argparse.Namespace) -> int:
    argument = read_input(args)
    client = await connect(args)
    handle = _handle(client, args)
    await handle.signal(args.name, *([] if argument is None else [argument]))
    print(f"signalled {args.name} to {args.workflow_id}")
    return 0


async def _query(args: argparse.Namespace) -> int:
    from temporalio.service import RPCError, RPCStatusCode

    argument = read_input(args)
    client = await connect(args)
    handle = _handle(client, args)
    description = await handle.describe()
    what = f"query {args.name!r}"
    await require_poller(client, description.task_queue, what=what)
    try:
        answer = await handle.query(args.name, *([] if argument is None else [argument]))
    except RPCError as error:
        if error.status not in (RPCStatusCode.CANCELLED, RPCStatusCode.DEADLINE_EXCEEDED):
            raise
        # Pollers stay listed for a while after their worker is gone; say which queue it was.
        raise CommandError(
            f"no worker answered the {what} in time ({error.message}); the pollers of task "
            f"queue {description.task_queue!r} may be gone: check its workers"
        ) from None
    emit(answer, args.output, text=_pretty_json)
    return 0


async def _describe(args: argparse.Namespace) -> int:
    client = await connect(args)
    description = await _handle(client, args).describe()
    emit(
        {
            "workflow_id": description.id,
            "run_id": description.run_id,
            "type": description.workflow_type,
            "status": description.status.name if description.status else None,
            "task_queue": description.task_queue,
            "start_time": rfc3339(description.start_time),
            "close_time": rfc3339(description.close_time),
            "history_length": description.history_length,
        },
        args.output,
        text=key_values,
    )
    return 0


async def _result(args: argparse.Namespace) -> int:
    client = await connect(args)
    emit(await _await_result(_handle(client, args)), args.output, text=_pretty_json)
    return 0


async def _show(args: argparse.Namespace) -> int:
    from google.protobuf.json_format import MessageToDict
    from temporalio.api.enums.v1 import EventType

    client = await connect(args)
    rows = []
    async for event in _handle(client, args).fetch_history_events():
        kind = EventType.Name(event.event_type).removeprefix("EVENT_TYPE_")
        attributes_field = event.WhichOneof("attributes")
        rows.append(
            {
                "event_id": event.event_id,
                "time": rfc3339(event.event_time.ToDatetime()),
                "type": kind,
                "attributes": MessageToDict(getattr(event, attributes_field))
                if attributes_field
                else {},
            }
        )
    emit_rows(
        rows,
        args.output,
        columns=[("event_id", "ID", 5), ("time", "TIME", 25), ("type", "TYPE", 0)],
    )
    return 0


async def _cancel(args: argparse.Namespace) -> int:
    client = await connect(args)
    await _handle(client, args).cancel()
    print(f"cancellation requested for {args.workflow_id}")
    return 0


async def _terminate(args: argparse.Namespace) -> int:
    client = await connect(args)
    await _handle(client, args).terminate(reason=args.reason)
    print(f"terminated {args.workflow_id}")
    return 0


async def _list(args: argparse.Namespace) -> int:
    if args.limit < 1:
        raise CommandError("--limit must be at least 1")
    client = await connect(args)
    rows = [
        {
            "workflow_id": execution.id,
            "run_id": execution.run_id,
            "type": execution.workflow_type,
            "status": execution.status.name if execution.status else None,
            "task_queue": execution.task_queue,
            "start_time": rfc3339(execution.start_time),
            "close_time": rfc3339(execution.close_time),
        }
        async for execution in client.list_workflows(args.query or None, limit=args.limit)
    ]
    columns = [
        ("workflow_id", "WORKFLOW ID", 40),
        ("type", "TYPE", 24),
        ("status", "STATUS", 12),
        ("start_time", "STARTED", 0),
    ]
    emit_rows(rows, args.output, columns=columns)
    return 0


def _pretty_json(value: Any) -> str:
    import json

    return json.dumps(value, indent=2, sort_keys=True, default=str)
