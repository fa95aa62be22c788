"""Benchmark: the worker runtime's cost over a bare temporalio Worker.

Same dev server, same workload (N workflows with one activity each), three worker
processes in turn:
  (a) bare      a plain temporalio Worker (bench/worker/bare_worker.py)
  (b) runtime   `queuefleet worker`, metrics on, tracing off
  (c) traced    `queuefleet worker` exporting spans over OTLP to a receiver in this process
Measured: the worker process's CPU seconds per 1,000 workflows (utime + stime from /proc,
all threads) and, for (a) and (b), cold start: process start until the server sees the
worker's first workflow-task poll. Rounds are interleaved and the median is reported.

Run: `make bench-worker` or `python -m bench.worker.run --workflows 1000 --rounds 3`.
Targets: (b) <= 1.05x (a), (c) <= 1.3x (a) CPU; cold start (b) <= 1.3x (a).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from bench.worker.workload import TASK_QUEUE_VARIABLE
from testbed.process import artifacts_dir, free_port
from testbed.temporal import TemporalEndpoint, start_temporal
from tests.temporal.worker.otlp_receiver import OtlpReceiver

REPO_ROOT = Path(__file__).resolve().parents[2]
VARIANTS = ("bare", "runtime", "traced")
TARGETS = {"runtime": 1.05, "traced": 1.3}
COLD_START_TARGET = 1.3
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Sample:
    variant: str
    round: int
    workflows: int
    cpu_seconds: float
    cold_start_seconds: float

    @property
    def cpu_per_1000(self) -> float:
        return self.cpu_seconds * 1000 / self.workflows


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS  # utime, stime


def _worker_argv(variant: str, address: str, task_queue: str) -> list[str]:
    if variant == "bare":
        return [sys.executable, "-m", "bench.worker.bare_worker", address, task_queue]
    queuefleet = str(Path(sys.executable).with_name("queuefleet"))
    return [queuefleet, "worker", "--task-queue", task_queue,
            "--registrar", "bench.worker.workload:BenchRegistrar"]  # fmt: skip


def _worker_env(variant: str, address: str, task_queue: str, otlp: str) -> dict[str, str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
        "TEMPORAL_ADDRESS": address,
        TASK_QUEUE_VARIABLE: task_queue,
        "QUEUEFLEET_LISTEN_HOST": "127.0.0.1",
        "QUEUEFLEET_HEALTH_PORT": str(free_port()),
        "QUEUEFLEET_METRICS_PORT": str(free_port()),
        "QUEUEFLEET_LOG_LEVEL": "warning",
    }
    for name in list(env):
        if name.startswith("OTEL_"):
            env.pop(name)
    if variant == "traced":
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = otlp
    return env


async def _first_poll(client: Client, task_queue: str, process: subprocess.Popen[bytes]) -> float:
    """Seconds from now until the server lists a workflow-task poller for the queue."""
    request = DescribeTaskQueueRequest(
        namespace=client.namespace,
        task_queue=TaskQueue(name=task_queue),
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"worker exited with {process.returncode} before polling")
        response = await client.workflow_service.describe_task_queue(request)
        if response.pollers:
            return time.monotonic()
        await asyncio.sleep(0.005)
    raise RuntimeError(f"no poller on {task_queue} after 60s")


def _spawn(
    variant: str, endpoint: TemporalEndpoint, task_queue: str, otlp: str, log: Path
) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            _worker_argv(variant, endpoint.address, task_queue),
            env=_worker_env(variant, endpoint.address, task_queue, otlp),
            cwd=REPO_ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


async def _start_worker(
    variant: str, client: Client, endpoint: TemporalEndpoint, otlp: str, log: Path
) -> tuple[subprocess.Popen[bytes], str, float]:
    task_queue = f"bench-{variant}-{uuid.uuid4()}"
    started = time.monotonic()
    process = _spawn(variant, endpoint, task_queue, otlp, log)
    polled = await _first_poll(client, task_queue, process)
    return process, task_queue, polled - started


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


async def _run_workload(client: Client, task_queue: str, workflows: int) -> None:
    in_flight = asyncio.Semaphore(200)

    async def one(value: int) -> None:
        async with in_flight:
            result = await client.execute_workflow(
                "BenchWorkflow", value, id=f"{task_queue}-{value}", task_queue=task_queue
            )
        if result != value:
            raise RuntimeError(f"workflow {value} returned {result}")

    await asyncio.gather(*(one(i) for i in range(workflows)))


async def _measure(
    variant: str,
    round_: int,
    workflows: int,
    client: Client,
    endpoint: TemporalEndpoint,
    otlp: str,
    log: Path,
) -> Sample:
    process, task_queue, cold_start = await _start_worker(variant, client, endpoint, otlp, log)
    try:
        await asyncio.sleep(1.0)  # let start-up work settle so it is not billed to the workload
        before = _cpu_seconds(process.pid)
        await _run_workload(client, task_queue, workflows)
        cpu = _cpu_seconds(process.pid) - before
    finally:
        _stop(process)
    return Sample(variant, round_, workflows, cpu, cold_start)


async def _cold_start(
    variant: str, client: Client, endpoint: TemporalEndpoint, otlp: str, log: Path
) -> float:
    process, _, seconds = await _start_worker(variant, client, endpoint, otlp, log)
    _stop(process)
    return seconds


async def _traced_client(endpoint: TemporalEndpoint) -> Client:
    """A client that starts workflows inside a span, as a traced caller would.

    Its spans are not exported (the client's CPU is not measured); what matters is the
    trace context in the headers, which makes the worker create workflow spans too.
    """
    from opentelemetry.sdk.trace import TracerProvider
    from temporalio.contrib.opentelemetry import TracingInterceptor

    tracer = TracerProvider().get_tracer("bench")
    return await Client.connect(
        endpoint.address, namespace=endpoint.namespace, interceptors=[TracingInterceptor(tracer)]
    )


async def benchmark(args: argparse.Namespace) -> dict[str, object]:
    workdir = artifacts_dir() / "bench-worker"
    log = workdir / "workers.log"
    workdir.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        server, endpoint = start_temporal(workdir / "temporal")
        stack.callback(server.stop)
        receiver = stack.enter_context(OtlpReceiver(keep_spans=False).running())
        client = await Client.connect(endpoint.address, namespace=endpoint.namespace)
        traced_client = await _traced_client(endpoint)
        # Warm the server (namespace caches, sqlite) so round 1 is not penalised.
        warm = await _measure(
            "bare", 0, min(100, args.workflows), client, endpoint, receiver.endpoint, log
        )
        del warm
        samples: list[Sample] = []
        for round_ in range(1, args.rounds + 1):
            for variant in VARIANTS:
                sample = await _measure(
                    variant,
                    round_,
                    args.workflows,
                    traced_client if variant == "traced" else client,
                    endpoint,
                    receiver.endpoint,
                    log,
                )
                print(
                    f"  round {round_} {variant:8} {sample.cpu_per_1000:6.2f} CPU s/1000 wf",
                    flush=True,
                )
                samples.append(sample)
        cold: dict[str, list[float]] = {v: [] for v in ("bare", "runtime")}
        for _ in range(args.cold_starts):
            for variant in cold:
                cold[variant].append(
                    await _cold_start(variant, client, endpoint, receiver.endpoint, log)
                )
        for sample in samples:
            if sample.variant in cold:
                cold[sample.variant].append(sample.cold_start_seconds)
        spans = receiver.span_count
    return _summary(samples, cold, spans, args)


def _summary(
    samples: Sequence[Sample], cold: dict[str, list[float]], spans: int, args: argparse.Namespace
) -> dict[str, object]:
    cpu = {
        v: statistics.median(s.cpu_per_1000 for s in samples if s.variant == v) for v in VARIANTS
    }
    cold_median = {v: statistics.median(values) for v, values in cold.items()}
    return {
        "workflows_per_run": args.workflows,
        "rounds": args.rounds,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "cpu_seconds_per_1000_workflows": cpu,
        "cpu_ratio_to_bare": {v: cpu[v] / cpu["bare"] for v in VARIANTS},
        "cpu_targets": TARGETS,
        "cold_start_seconds": cold_median,
        "cold_start_ratio": cold_median["runtime"] / cold_median["bare"],
        "cold_start_target": COLD_START_TARGET,
        "cold_start_samples": cold,
        "spans_received_in_traced_runs": spans,
        "samples": [asdict(s) | {"cpu_per_1000": s.cpu_per_1000} for s in samples],
    }


def _print_table(result: dict[str, object]) -> None:
    cpu: dict[str, float] = result["cpu_seconds_per_1000_workflows"]  # type: ignore[assignment]
    ratio: dict[str, float] = result["cpu_ratio_to_bare"]  # type: ignore[assignment]
    cold: dict[str, float] = result["cold_start_seconds"]  # type: ignore[assignment]
    print()
    header = ("variant", "CPU s/1000 wf", "ratio to (a)", "target", "cold start s")
    print(f"{header[0]:12} {header[1]:>14} {header[2]:>13} {header[3]:>8} {header[4]:>13}")
    for label, variant in zip("abc", VARIANTS, strict=True):
        target = f"<= {TARGETS[variant]}" if variant in TARGETS else ""
        start = f"{cold[variant]:.3f}" if variant in cold else ""
        line = f"({label}) {variant:8} {cpu[variant]:14.3f} {ratio[variant]:13.3f} {target:>8}"
        print(f"{line} {start:>13}")
    cold_ratio = result["cold_start_ratio"]
    print(f"cold start ratio (b)/(a): {cold_ratio:.3f} (target <= {COLD_START_TARGET})")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--workflows", type=int, default=1000, help="workflows per run (default 1000)"
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="interleaved rounds; medians reported"
    )
    parser.add_argument(
        "--cold-starts", type=int, default=3, help="extra cold starts each of (a), (b)"
    )
    parser.add_argument("--output", type=Path, default=REPO_ROOT / "bench-results" / "worker.json")
    args = parser.parse_args(argv)
    if args.workflows < 1 or args.rounds < 1 or args.cold_starts < 0:
        parser.error("--workflows and --rounds must be >= 1, --cold-starts >= 0")
    result = asyncio.run(benchmark(args))
    _print_table(result)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"results: {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
