"""`graph put|get|list|run-stored|bind`: graphs kept in the PostgreSQL graph store.

The store is named by `--database URI` or `QUEUEFLEET_GRAPHS_STORE_DATABASE`. `put`
validates before storing and prints the version; `run-stored NAME` runs a stored version
(the latest unless `--version`), and the run's workflow id and memo name the version it
pinned. `triggers` follows the events
table and starts the bound graphs until SIGTERM; several may run at once (each event still
starts one run, its workflow id being derived from the event id). With `--listen
HOST:PORT` it also takes events over HTTP (`POST /triggers/<entity type>`, signed with
`QUEUEFLEET_GRAPHS_TRIGGER_SECRET[_FILE]`; see graphs/http_trigger.py).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from queuefleet_cli.errors import CommandError

from .common import (
    PACKS,
    add_connection_arguments,
    connect,
    load_document,
    print_json,
    run_async,
)

if TYPE_CHECKING:
    from queuefleet_packs.graphs.http_trigger import TriggerSecret

__all__ = ["ACTIONS", "ENV_STORE_DATABASE", "add_store_actions", "run_store_action"]

ENV_STORE_DATABASE: Final = "QUEUEFLEET_GRAPHS_STORE_DATABASE"
ACTIONS: Final = ("put", "get", "list", "run-stored", "bind", "triggers")


def add_store_actions(actions: Any) -> None:
    """Adds the store's actions to `queuefleet graph`'s sub-parsers."""
    put = actions.add_parser("put", help="validate a graph file and store it as a new version")
    put.add_argument("name")
    put.add_argument("file", help="graph as JSON or YAML")
    get = actions.add_parser("get", help="print a stored graph (the latest or --version)")
    get.add_argument("name")
    get.add_argument("--version", type=int)
    actions.add_parser("list", help="list stored graphs and their latest versions")
    run = actions.add_parser("run-stored", help="run a stored graph, pinned to one version")
    run.add_argument("name")
    run.add_argument("--version", type=int, help="default: the latest")
    run.add_argument("-i", "--input", default="{}", help="the graph's input object as JSON")
    run.add_argument("-t", "--task-queue", default=PACKS["graphs"].task_queue)
    run.add_argument("--no-wait", action="store_true")
    add_connection_arguments(run)
    bind = actions.add_parser("bind", help="start GRAPH for every event of ENTITY_TYPE")
    bind.add_argument("entity_type")
    bind.add_argument("graph")
    bind.add_argument("--version", type=int, help="pin a version (default: latest at event time)")
    bind.add_argument("-t", "--task-queue", default=PACKS["graphs"].task_queue)
    triggers = actions.add_parser(
        "triggers",
        help="start the bound graph for every entity event (LISTEN/NOTIFY) until stopped",
    )
    triggers.add_argument(
        "--listen", metavar="HOST:PORT",
        help="also take events as signed POST /triggers/<entity type> here "
        "(env QUEUEFLEET_GRAPHS_TRIGGER_LISTEN; port 0 picks a free one)",
    )  # fmt: skip
    add_connection_arguments(triggers)
    for parser in (put, get, run, bind, triggers, actions.choices["list"]):
        parser.add_argument("--database", help=f"libpq URI (default: ${ENV_STORE_DATABASE})")


def run_store_action(args: argparse.Namespace) -> int:
    uri = args.database or os.environ.get(ENV_STORE_DATABASE, "")
    if not uri:
        raise CommandError(f"name the graph store with --database or {ENV_STORE_DATABASE}")
    return run_async(lambda: _run(args, uri), args)


async def _run(args: argparse.Namespace, uri: str) -> int:
    import dataclasses
    import json

    import psycopg

    from queuefleet_packs.graphs.store import GraphStore, GraphStoreError

    store = GraphStore(uri)
    try:
        if args.action == "put":
            stored = await store.put(args.name, load_document(args.file, what="graph"))
            print(f"stored graph {stored.name!r} version {stored.version}")
        elif args.action == "get":
            print_json((await store.get(args.name, args.version)).definition)
        elif args.action == "list":
            for row in await store.list():
                print(f"{row['name']}\tv{row['latest_version']}\t{row['versions']} versions")
        elif args.action == "bind":
            await store.bind(args.entity_type, args.graph, version=args.version,
                             task_queue=args.task_queue)  # fmt: skip
            pinned = f"version {args.version}" if args.version else "the latest version"
            print(f"events of {args.entity_type!r} start {args.graph!r} ({pinned})")
        elif args.action == "triggers":
            await _follow_events(args, store)
        else:
            return await _run_stored(args, store, json.loads(args.input), dataclasses.asdict)
    except GraphStoreError as error:
        raise CommandError(str(error)) from None
    except psycopg.OperationalError as error:
        raise CommandError(f"cannot reach the graph store: {str(error).splitlines()[0]}") from None
    except ValueError as error:
        raise CommandError(f"--input is not valid JSON: {error}") from None
    return 0


async def _follow_events(args: argparse.Namespace, store: Any) -> None:
    import signal

    from queuefleet_packs.graphs.http_trigger import ENV_TRIGGER_LISTEN, TRIGGER_PATH, HttpTrigger
    from queuefleet_packs.graphs.listener import ListenError, parse_listen
    from queuefleet_packs.graphs.store import EventTrigger

    listen = args.listen or os.environ.get(ENV_TRIGGER_LISTEN, "")
    setting = "--listen" if args.listen else ENV_TRIGGER_LISTEN
    address = None
    if listen:  # checked before anything connects
        try:
            address = parse_listen(listen, setting)
        except ListenError as error:
            raise CommandError(str(error)) from None
        secret = _trigger_secret()
    client = await connect(args)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    trigger = EventTrigger(
        store, client, on_event=lambda event: print(f"event {event}", flush=True)
    )
    http = None
    if address is not None:
        host, port = address
        http = HttpTrigger(store, client, secret, host=host, port=port, setting=setting)
        try:
            await http.start()
        except ListenError as error:
            raise CommandError(str(error)) from None
        print(f"taking events at {http.url}{TRIGGER_PATH}<entity type>", flush=True)
    print("following entity events; Ctrl-C stops", flush=True)
    try:
        await trigger.run(stop)
    finally:
        if http is not None:
            await http.stop()


def _trigger_secret() -> TriggerSecret:
    from queuefleet_packs.graphs.http_trigger import ENV_TRIGGER_SECRET, TriggerSecret

    value = os.environ.get(ENV_TRIGGER_SECRET, "")
    path = os.environ.get(f"{ENV_TRIGGER_SECRET}_FILE", "")
    if path:
        try:
            value = Path(path).read_text(encoding="utf-8").strip()
        except OSError as error:
            raise CommandError(
                f"{ENV_TRIGGER_SECRET}_FILE: cannot read {path!r}: {error.strerror}"
            ) from None
    if len(value) < 16:
        raise CommandError(
            f"taking events over HTTP needs {ENV_TRIGGER_SECRET} (or {ENV_TRIGGER_SECRET}_FILE) "
            "with at least 16 characters"
        )
    return TriggerSecret(value.encode())


async def _run_stored(args: argparse.Namespace, store: Any, graph_input: Any, asdict: Any) -> int:
    from temporalio.client import WorkflowFailureError

    from queuefleet_packs.graphs.workflows import GraphRunInput, GraphWorkflow

    if not isinstance(graph_input, dict):
        raise CommandError("the graph's input must be a JSON object")
    stored = await store.get(args.name, args.version)
    client = await connect(args)
    handle = await client.start_workflow(
        GraphWorkflow.run,
        GraphRunInput(graph=stored.definition, input=graph_input),
        id=f"graph-{stored.name}-v{stored.version}-{uuid.uuid4().hex[:8]}",
        task_queue=args.task_queue,
        memo={"graph": stored.name, "graph_version": stored.version},
    )
    print(f"started {stored.name!r} version {stored.version} id={handle.id}")
    if args.no_wait:
        return 0
    try:
        result = await handle.result()
    except WorkflowFailureError as error:
        cause = error.cause
        raise CommandError(
            f"graph run {handle.id} failed: {getattr(cause, 'message', None) or cause}"
        ) from None
    print_json(asdict(result))
    return 0
