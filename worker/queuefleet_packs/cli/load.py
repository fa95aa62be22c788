"""`queuefleet load`: start N workflows with C at a time, then report throughput and latency.

Each workflow's input is the --input document with every "{i}" in its strings replaced by
the workflow's number and "{run}" by this load run's id, so ids stay unique.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid
from dataclasses import asdict, dataclass
from typing import Any, Final

from queuefleet_worker.cli import CommandError

from .common import PACKS, add_connection_arguments, connect, load_document, run_async
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
    parser.add_argument("--task-queue", help="task queue (default: the pack's)")
    parser.add_argument(
        "--input", help="input document with {i}/{run} placeholders (default: a one-node graph)"
    )
    parser.add_argument(
        "--start-only",
        action="store_true",
        help="only start them (builds a backlog); latency is start latency",
    )
    parser.add_argument(
        "--timeout", type=float, default=600.0, help="give up after this many seconds (default 600)"
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    add_connection_arguments(parser)
    parser.set_defaults(workflow_id=None)


@dataclass(frozen=True)
class LoadReport:
    workflows: int
    completed: int
    failed: int
    seconds: float
    throughput_per_second: float
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
    if args.timeout <= 0:
        raise CommandError("--timeout must be positive")
    if not args.pack and not args.workflow_type:
        args.pack = "graphs"
    template = (
        load_document(args.input)
        if args.input
        else (DEFAULT_GRAPH if args.pack == "graphs" else None)
    )
    if template is None:
        raise CommandError(f"--input is required for {args.pack or args.workflow_type}")
    run_id = uuid.uuid4().hex[:8]
    start_options(args, _substitute(template, 0, run_id))  # check options before connecting
    report = run_async(lambda: _load(args, template, run_id))
    if args.json:
        print(json.dumps(asdict(report)))
    else:
        print(
            f"{report.completed}/{report.workflows} completed, {report.failed} failed "
            f"in {report.seconds:.2f}s: {report.throughput_per_second:.1f} workflows/s; "
            f"latency p50 {report.latency_p50_ms:.0f} ms, p90 {report.latency_p90_ms:.0f} ms, "
            f"p99 {report.latency_p99_ms:.0f} ms, max {report.latency_max_ms:.0f} ms"
        )
        if report.first_error:
            print(f"first error: {report.first_error}")
    return 0 if report.failed == 0 else 1


async def _load(args: argparse.Namespace, template: Any, run_id: str) -> LoadReport:
    from temporalio.client import WorkflowFailureError

    client = await connect(args)
    latencies: list[float] = []
    failures: list[str] = []
    semaphore = asyncio.Semaphore(args.concurrent)
    progress = _Progress(args.workflows)

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
                if not args.start_only:
                    await handle.result()
                latencies.append((time.perf_counter() - began) * 1000)
            except WorkflowFailureError as error:
                failures.append(
                    f"{workflow_id}: {getattr(error.cause, 'message', None) or error.cause}"
                )
            except Exception as error:  # counted and reported; one failure must not stop the run
                failures.append(
                    f"{workflow_id}: {(str(error) or type(error).__name__).splitlines()[0]}"
                )
            progress.advance(failed=len(failures))

    began = time.perf_counter()
    try:
        await asyncio.wait_for(
            asyncio.gather(*(one(i) for i in range(args.workflows))), timeout=args.timeout
        )
    except TimeoutError:
        progress.finish()
        raise CommandError(
            f"gave up after {args.timeout:g}s with {len(latencies)} of {args.workflows} done; "
            "is a worker serving the queue?"
        ) from None
    seconds = time.perf_counter() - began
    progress.finish()
    return LoadReport(
        workflows=args.workflows,
        completed=len(latencies),
        failed=len(failures),
        seconds=round(seconds, 3),
        throughput_per_second=round(len(latencies) / seconds, 2) if seconds else 0.0,
        latency_p50_ms=round(percentile(latencies, 0.50), 1),
        latency_p90_ms=round(percentile(latencies, 0.90), 1),
        latency_p99_ms=round(percentile(latencies, 0.99), 1),
        latency_max_ms=round(max(latencies, default=0.0), 1),
        first_error=failures[0] if failures else None,
    )


class _Progress:
    """A one-line progress bar on stderr (redrawn in place on a terminal, else every 10%)."""

    WIDTH: Final = 30

    def __init__(self, total: int) -> None:
        self.total, self.done, self.tty = total, 0, sys.stderr.isatty()
        self.last_decile = -1

    def advance(self, *, failed: int) -> None:
        self.done += 1
        filled = self.WIDTH * self.done // self.total
        bar = "#" * filled + "." * (self.WIDTH - filled)
        line = f"[{bar}] {self.done}/{self.total} ({failed} failed)"
        if self.tty:
            print(f"\r{line}", end="", file=sys.stderr, flush=True)
        elif (decile := 10 * self.done // self.total) != self.last_decile:
            self.last_decile = decile
            print(line, file=sys.stderr, flush=True)

    def finish(self) -> None:
        if self.tty:
            print(file=sys.stderr)
