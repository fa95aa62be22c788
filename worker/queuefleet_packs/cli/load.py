"""`queuefleet load`: start N workflows with C at a time, then report throughput and latency.

Each workflow's input is the --input document with every "{i}" in its strings replaced by
the workflow's number and "{run}" by this load run's id, so ids stay unique.

By default each workflow counts once its result is back; with --start-only once it started
(nothing is awaited, and the report says so). A run that hits --timeout still reports what
it did, then exits 2.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any, Final

from queuefleet_cli.errors import CommandError

from .common import PACKS, add_connection_arguments, connect, connection_target, run_async
from .errors import explain, first_line
from .options import add_input_arguments, parse_duration, read_input
from .output import plain
from .progress import Progress, Tally
from .workflow import start_options

__all__ = ["LoadReport", "add_arguments", "percentile", "run"]

# Used when no --input is given: a one-node graph needing no HTTP access.
DEFAULT_GRAPH: Final = {
    "graph": {
        "name": "load",
        "nodes": [{"name": "echo", "type": "transform", "output": "{{input.i}}"}],
        "edges": [{"type": "start", "to": "echo"}],
    },
    "input": {"i": "{i}"},
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--workflows", type=int, default=100, help="how many workflows to run (default 100)"
    )
    parser.add_argument(
        "--concurrent", type=int, default=10, help="how many at a time (default 10)"
    )
    parser.add_argument(
        "--pack", choices=sorted(PACKS), default=None, help="a shipped pack (default: graphs)"
    )
    parser.add_argument("--type", dest="workflow_type", help="workflow type, instead of --pack")
    parser.add_argument("-t", "--task-queue", help="task queue (default: the pack's)")
    add_input_arguments(parser, what="input document with {i}/{run} placeholders")
    parser.add_argument(
        "--start-only",
        action="store_true",
        help="only start them (builds a backlog); nothing is awaited, latency is start latency",
    )
    parser.add_argument(
        "--timeout",
        type=parse_duration,
        default=timedelta(minutes=10),
        metavar="DURATION",
        help="give up after this long, e.g. 90s or 1h (default 10m); the report still prints",
    )
    parser.add_argument(
        "-o",
        "--output",
        choices=("text", "json", "jsonl"),
        default="text",
        help="the report as text (default), or as one JSON line (json and jsonl alike)",
    )
    parser.add_argument(
        "--json", dest="output", action="store_const", const="json", help="same as -o json"
    )
    add_connection_arguments(parser)
    parser.set_defaults(workflow_id=None)


@dataclass(frozen=True)
class LoadReport:
    workflows: int
    mode: str  # "complete" (results awaited) or "start-only"
    started: int
    completed: int  # results received; always 0 under --start-only
    failed: int
    timed_out: bool
    seconds: float
    throughput_per_second: float  # completions per second, or starts under --start-only
    latency_of: str  # "start to result", or "start" under --start-only
    latency_p50_ms: float
    latency_p90_ms: float
    latency_p99_ms: float
    latency_max_ms: float
    first_error: str | None


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of `values` (0 for none)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-fraction * len(ordered) // 1))))
    return ordered[rank - 1]


def _substitute(value: Any, index: int, run_id: str) -> Any:
    if isinstance(value, str):
        return value.replace("{i}", str(index)).replace("{run}", run_id)
    if isinstance(value, dict):
        return {k: _substitute(v, index, run_id) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, index, run_id) for v in value]
    return value


def run(args: argparse.Namespace) -> int:
    if args.workflows < 1:
        raise CommandError("--workflows must be at least 1")
    if args.concurrent < 1:
        raise CommandError("--concurrent must be at least 1")
    if not args.pack and not args.workflow_type:
        args.pack = "graphs"
    template = read_input(args)
    if template is None and args.pack == "graphs":
        template = DEFAULT_GRAPH
    if template is None:
        raise CommandError(f"--input is required for {args.pack or args.workflow_type}")
    run_id = uuid.uuid4().hex[:8]
    # Options are checked before connecting, on the first workflow's input.
    _, task_queue, _ = start_options(args, _substitute(template, 0, run_id))
    tally = Tally(total=args.workflows, awaiting_results=not args.start_only, task_queue=task_queue)
    return run_async(lambda: _load_and_report(args, template, run_id, tally), args)


async def _load_and_report(
    args: argparse.Namespace, template: Any, run_id: str, tally: Tally
) -> int:
    report = await _load(args, template, run_id, tally)
    if args.output == "text":
        print(_text_report(report))
    else:
        # One line for json too: scripts (and `tail -1`) read the report as the last line.
        print(json.dumps(plain(asdict(report))))
    if report.timed_out:
        done = f"{report.started} of {report.workflows} started"
        if tally.awaiting_results:
            done += f" and {report.completed} completed; is a worker polling task queue "
            done += f"{tally.task_queue!r}?"
        raise CommandError(f"gave up after {args.timeout.total_seconds():g}s with {done}")
    return 0 if report.failed == 0 else 1


def _text_report(report: LoadReport) -> str:
    latency = (
        f"p50 {report.latency_p50_ms:.0f} ms, p90 {report.latency_p90_ms:.0f} ms, "
        f"p99 {report.latency_p99_ms:.0f} ms, max {report.latency_max_ms:.0f} ms"
    )
    if report.mode == "start-only":
        line = (
            f"started {report.started}/{report.workflows}, {report.failed} failed, none awaited "
            f"(--start-only) in {report.seconds:.2f}s: {report.throughput_per_second:.1f} "
            f"starts/s; start latency {latency}"
        )
    else:
        line = (
            f"{report.completed}/{report.workflows} completed, {report.failed} failed "
            f"in {report.seconds:.2f}s: {report.throughput_per_second:.1f} workflows/s; "
            f"latency (start to result) {latency}"
        )
    if report.first_error:
        line += f"\nfirst error: {report.first_error}"
    return line


async def _load(args: argparse.Namespace, template: Any, run_id: str, tally: Tally) -> LoadReport:
    from temporalio.client import WorkflowFailureError

    _, address = connection_target(args)
    print(
        f"load: connecting to Temporal at {address} (namespace {args.namespace})", file=sys.stderr
    )
    client = await connect(args)
    semaphore = asyncio.Semaphore(args.concurrent)
    what = (
        "awaiting each result" if tally.awaiting_results else "not awaiting results (--start-only)"
    )
    print(
        f"load: starting {tally.total} workflows on task queue {tally.task_queue!r}, "
        f"{args.concurrent} at a time, {what}",
        file=sys.stderr,
    )
    progress = Progress(tally)

    async def one(index: int) -> None:
        argument = _substitute(template, index, run_id)
        workflow_type, task_queue, workflow_id = start_options(args, argument)
        if not (args.pack and PACKS[args.pack].id_field):
            workflow_id = f"load-{run_id}-{index}"
        async with semaphore:
            began = time.perf_counter()
            try:
                handle = await client.start_workflow(
                    workflow_type, argument, id=workflow_id, task_queue=task_queue
                )
                tally.started += 1
                if tally.awaiting_results:
                    await handle.result()
                    tally.completed += 1
                tally.latencies_ms.append((time.perf_counter() - began) * 1000)
            except WorkflowFailureError as error:
                tally.failed += 1
                tally.failures.append(
                    f"{workflow_id}: {getattr(error.cause, 'message', None) or error.cause}"
                )
            except Exception as error:  # counted and reported; one failure must not stop the run
                tally.failed += 1
                explained = explain(error, args)
                tally.failures.append(f"{workflow_id}: {first_line(explained or error)}")

    async def redraw() -> None:
        while True:
            progress.tick()
            await asyncio.sleep(1.0)

    tally.began = time.perf_counter()
    drawer = asyncio.create_task(redraw())
    timed_out = False
    try:
        await asyncio.wait_for(
            asyncio.gather(*(one(i) for i in range(tally.total))),
            timeout=args.timeout.total_seconds(),
        )
    except TimeoutError:
        timed_out = True
    finally:
        drawer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await drawer
    seconds = tally.elapsed()
    progress.finish()
    latencies = tally.latencies_ms
    return LoadReport(
        workflows=tally.total,
        mode="complete" if tally.awaiting_results else "start-only",
        started=tally.started,
        completed=tally.completed,
        failed=tally.failed,
        timed_out=timed_out,
        seconds=round(seconds, 3),
        throughput_per_second=round(len(latencies) / seconds, 2) if seconds else 0.0,
        latency_of="start to result" if tally.awaiting_results else "start",
        latency_p50_ms=round(percentile(latencies, 0.50), 1),
        latency_p90_ms=round(percentile(latencies, 0.90), 1),
        latency_p99_ms=round(percentile(latencies, 0.99), 1),
        latency_max_ms=round(max(latencies, default=0.0), 1),
        first_error=tally.failures[0] if tally.failures else None,
    )
