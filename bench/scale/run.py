"""Benchmark: how fast KEDA scales worker fleets, and how fast workers drain a backlog.

Real parts only: the Temporal dev server, a kwok control plane with the aggregation layer,
KEDA's operator and metrics API server, our operator, and `queuefleet worker` processes
(started by the e2e pod shim to match each Deployment's replicas).

1. Activation and scale-to-zero, for two queues side by side in one run: one with our
   default polling interval (the CRD's, 15 s), one with KEDA's default (30 s). Measured:
   first workflow started -> replicas >= 1, and backlog empty (last workflow completed)
   -> replicas = 0. The cooldown is the same for both (--cooldown).
2. Drain time for N workflows (default 1,000) with 1 vs 4 worker processes: the backlog
   is built first, then the workers start; measured from worker start to last completion.

Writes bench-results/scale.json and bench-results/scale-timeline.png (backlog and replicas
over time, drawn with matplotlib from the `observability` extra).

Run: `make bench-scale` or `python -m bench.scale.run --workflows 1000 --cooldown 30`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from queuefleet_operator.spec import ScalingSpec
from queuefleet_worker import contract
from temporalio.api.enums.v1 import TaskQueueKind, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from testbed.cluster import (
    Cluster,
    cluster_pki_dir,
    install_crds,
    keda_crds_dir,
    new_cluster_name,
    start_kwok_cluster,
    stop_kwok_cluster,
)
from testbed.keda import aggregation_extra_args, start_keda
from testbed.process import Process, artifacts_dir, free_port
from testbed.temporal import start_temporal
from tests.e2e.autoscaling.pod_shim import PodShim
from tests.e2e.autoscaling.registrar import WORKFLOW, ProbeInput
from tests.e2e.autoscaling.scaling import REGISTRAR, apply_queue, replicas, worker_spec
from tests.e2e.conftest import QUEUEFLEET_CRDS, EndToEnd, start_operator

REPO = Path(__file__).resolve().parents[2]
KEDA_DEFAULT_POLLING_SECONDS = 30
ACTIVATION_WORKFLOWS = 10
DRAIN_LIMIT_SECONDS = 600


@dataclass
class Sample:
    at: float  # seconds since the run's clock started
    series: str
    backlog: int
    replicas: int


@dataclass
class Timeline:
    started: float = field(default_factory=time.monotonic)
    samples: list[Sample] = field(default_factory=list)

    def now(self) -> float:
        return time.monotonic() - self.started


async def backlog(client: Client, namespace: str, task_queue: str) -> int:
    total = 0
    for kind in (TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY):
        response = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=namespace,
                task_queue=TaskQueue(name=task_queue, kind=TaskQueueKind.TASK_QUEUE_KIND_NORMAL),
                task_queue_type=kind,
                report_stats=True,
            )
        )
        total += response.stats.approximate_backlog_count
    return total


async def start_workflows(client: Client, task_queue: str, count: int) -> list[Any]:
    prefix = uuid.uuid4().hex[:8]
    handles: list[Any] = []
    for first in range(0, count, 100):
        handles += await asyncio.gather(
            *(
                client.start_workflow(
                    WORKFLOW,
                    ProbeInput(work_seconds=0.0),
                    id=f"bench-{prefix}-{index}",
                    task_queue=task_queue,
                )
                for index in range(first, min(first + 100, count))
            )
        )
    return handles


async def scaling_latency(
    e2e: EndToEnd, client: Client, namespace: str, timeline: Timeline, cooldown: int
) -> list[dict[str, Any]]:
    cluster = e2e.cluster
    queues = {
        "ours": ScalingSpec().polling_interval_seconds,
        "keda-default": KEDA_DEFAULT_POLLING_SECONDS,
    }
    task_queues = {name: f"bench-{name}-{uuid.uuid4().hex[:6]}" for name in queues}
    for name, polling in queues.items():
        apply_queue(
            cluster,
            namespace,
            name,
            task_queue=task_queues[name],
            scaling={
                "minReplicas": 0,
                "maxReplicas": 4,
                "pollingIntervalSeconds": polling,
                "cooldownSeconds": cooldown,
                "scaleDownStabilizationSeconds": 0,
            },
            worker=worker_spec(),
        )
    await until(lambda: all(replicas(cluster, namespace, f"{n}-worker") == 0 for n in queues), 90)

    results: dict[str, dict[str, Any]] = {
        name: {"queue": name, "polling_interval_s": polling, "cooldown_s": cooldown}
        for name, polling in queues.items()
    }
    stop = asyncio.Event()

    async def sample() -> None:
        while not stop.is_set():
            for name in queues:
                count = await backlog(client, e2e.temporal.namespace, task_queues[name])
                current = await asyncio.to_thread(replicas, cluster, namespace, f"{name}-worker")
                timeline.samples.append(Sample(timeline.now(), name, count, current or 0))
            await asyncio.sleep(0.5)

    sampler = asyncio.create_task(sample())
    with ExitStack() as stack:
        for name in queues:
            log_dir = e2e.artifacts / "bench-scale" / "workers" / name
            stack.enter_context(PodShim(cluster, namespace, f"{name}-worker", log_dir))

        async def one(name: str) -> None:
            deployment = f"{name}-worker"
            started = time.monotonic()
            handles = await start_workflows(client, task_queues[name], ACTIVATION_WORKFLOWS)
            await until(lambda: (replicas(cluster, namespace, deployment) or 0) >= 1, 120)
            results[name]["activation_s"] = round(time.monotonic() - started, 1)
            await asyncio.gather(*(h.result() for h in handles))
            drained = time.monotonic()
            await until(lambda: replicas(cluster, namespace, deployment) == 0, cooldown + 120)
            results[name]["scale_to_zero_s"] = round(time.monotonic() - drained, 1)

        await asyncio.gather(*(one(name) for name in queues))
    stop.set()
    await sampler
    return list(results.values())


async def drain_time(
    e2e: EndToEnd, client: Client, timeline: Timeline, workflows: int, workers: int
) -> dict[str, Any]:
    task_queue = f"bench-drain-{workers}-{uuid.uuid4().hex[:6]}"
    series = f"drain x{workers}"
    await start_workflows(client, task_queue, workflows)
    env = {
        contract.ENV_TASK_QUEUE: task_queue,
        contract.ENV_TEMPORAL_ADDRESS: e2e.temporal.address,
        contract.ENV_TEMPORAL_NAMESPACE: e2e.temporal.namespace,
        contract.ENV_REGISTRARS: REGISTRAR,
        contract.ENV_LISTEN_HOST: "127.0.0.1",
        contract.ENV_LOG_FORMAT: "json",
        "PYTHONPATH": str(REPO),
    }
    started = time.monotonic()
    processes = [
        Process.start(
            f"worker-{index}",
            [sys.executable, "-m", "queuefleet_cli", "worker"],
            log_path=e2e.artifacts / "bench-scale" / "drain" / f"{task_queue}-{index}.log",
            env={
                **env,
                contract.ENV_HEALTH_PORT: str(free_port()),
                contract.ENV_METRICS_PORT: str(free_port()),
            },
            cwd=REPO,
        )
        for index in range(workers)
    ]
    running = f'TaskQueue="{task_queue}" AND ExecutionStatus="Running"'
    try:
        # Visibility counts instead of one long poll per workflow: a thousand concurrent
        # history long-polls would measure the client, not the workers.
        while (await client.count_workflows(running)).count > 0:
            count = await backlog(client, e2e.temporal.namespace, task_queue)
            timeline.samples.append(Sample(timeline.now(), series, count, workers))
            if time.monotonic() - started > DRAIN_LIMIT_SECONDS:
                raise TimeoutError(f"{workflows} workflows not drained by {workers} worker(s)")
            await asyncio.sleep(0.5)
        elapsed = time.monotonic() - started
    finally:
        for process in processes:
            process.stop()
    return {
        "workers": workers,
        "workflows": workflows,
        "drain_s": round(elapsed, 1),
        "workflows_per_s": round(workflows / elapsed, 1),
    }


async def until(predicate: Any, within: float) -> None:
    deadline = time.monotonic() + within
    while not await asyncio.to_thread(predicate):
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not reached within {within:.0f}s")
        await asyncio.sleep(0.5)


def png_timeline(timeline: Timeline, path: Path) -> None:
    """Backlog (top) and replicas (bottom) of every series over the run's clock."""
    import matplotlib  # the observability extra's plotting library, imported only here

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    figure, (backlog_axes, replica_axes) = plt.subplots(2, 1, sharex=True, figsize=(10, 6))
    for name in dict.fromkeys(s.series for s in timeline.samples):
        points = [s for s in timeline.samples if s.series == name]
        times = [s.at for s in points]
        backlog_axes.plot(times, [s.backlog for s in points], label=name)
        replica_axes.step(times, [s.replicas for s in points], where="post", label=name)
    backlog_axes.set_ylabel("backlog (tasks)")
    replica_axes.set_ylabel("replicas")
    replica_axes.yaxis.get_major_locator().set_params(integer=True)
    replica_axes.set_xlabel("seconds since the run started")
    backlog_axes.legend(loc="upper right")
    for axes in (backlog_axes, replica_axes):
        axes.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def write_results(
    out: Path, latency: list[dict[str, Any]], drains: list[dict[str, Any]], timeline: Timeline
) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "scale.json").write_text(
        json.dumps(
            {
                "scaling": latency,
                "drain": drains,
                "timeline": [asdict(s) for s in timeline.samples],
            },
            indent=2,
        )
    )
    png_timeline(timeline, out / "scale-timeline.png")
    print(f"\nwrote {out / 'scale.json'} and {out / 'scale-timeline.png'}")


async def run(args: argparse.Namespace) -> int:
    artifacts = artifacts_dir() / "bench-scale"
    with ExitStack() as stack:
        temporal_process, temporal = start_temporal(artifacts / "temporal")
        stack.callback(temporal_process.stop)
        workdir = artifacts / "kwok"
        name = new_cluster_name()
        cluster: Cluster = start_kwok_cluster(
            workdir, name=name, extra_args=aggregation_extra_args(cluster_pki_dir(workdir, name))
        )
        stack.callback(stop_kwok_cluster, workdir, cluster)
        install_crds(cluster, keda_crds_dir())
        install_crds(cluster, QUEUEFLEET_CRDS)
        keda = start_keda(cluster, artifacts / "keda")
        stack.callback(keda.stop)
        e2e = EndToEnd(cluster=cluster, temporal=temporal, keda=keda, artifacts=artifacts_dir())
        namespace = "bench-scale"
        cluster.kubectl("create", "namespace", namespace)
        operator = start_operator(e2e, namespace)
        stack.callback(operator.stop)
        client = await Client.connect(temporal.address, namespace=temporal.namespace)

        timeline = Timeline()
        latency = await scaling_latency(e2e, client, namespace, timeline, args.cooldown)
        drains = [
            await drain_time(e2e, client, timeline, args.workflows, workers) for workers in (1, 4)
        ]

    print(f"{'queue':<14}{'polling s':>10}{'cooldown s':>12}{'0->1 s':>9}{'->0 s':>8}")
    for row in latency:
        print(
            f"{row['queue']:<14}{row['polling_interval_s']:>10}{row['cooldown_s']:>12}"
            f"{row['activation_s']:>9}{row['scale_to_zero_s']:>8}"
        )
    print(f"\n{'workers':<10}{'workflows':>10}{'drain s':>10}{'wf/s':>8}")
    for row in drains:
        print(
            f"{row['workers']:<10}{row['workflows']:>10}{row['drain_s']:>10}"
            f"{row['workflows_per_s']:>8}"
        )
    write_results(Path(args.out), latency, drains, timeline)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workflows", type=int, default=1000, help="workflows per drain run")
    parser.add_argument("--cooldown", type=int, default=30, help="cooldownSeconds of both queues")
    parser.add_argument("--out", default="bench-results", help="where results are written")
    return asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    raise SystemExit(main())
