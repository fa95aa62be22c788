"""Benchmark: the operator under 500 WorkflowQueues applied at once, then at rest.

A private kwok control plane (KEDA's CRDs and ours installed, no KEDA controller) and a
Temporal dev server; `queuefleet operator` runs as a local process against both. A queue is
Ready only once KEDA accepted its ScaledObject, so the benchmark stands in for KEDA's
controller: it writes each new ScaledObject's Ready condition as KEDA would (its own
client, not the operator's, from a watch; Ready is counted from a watch too, so the
benchmark's own polling costs the API server almost nothing). All queues go in with one
server-side apply, then we measure:
  - time until every queue is Ready with its Deployment and ScaledObject created,
  - per-queue latency: creationTimestamp → the Ready condition's lastTransitionTime (whole
    seconds: both are API timestamps), one reconcile pass's duration and the wait in the
    operator's work queue before it (the operator's own histograms, interpolated like
    PromQL's histogram_quantile),
  - the operator's peak RSS (VmHWM) and CPU seconds (utime + stime, all threads, /proc),
  - its CPU while idle over 60 s afterwards (the resync loop still reads every backlog),
  - reconcile passes per queue, by trigger (the operator's own counter),
  - the CPU seconds of each test-bed process until all were Ready (API server, etcd,
    controller manager, scheduler, kwok, Temporal) and how busy the machine was: on a
    small machine they, not the operator, decide how fast queues can be Ready,
  - the Events in the namespace by reason (each one an API write),
  - the floor (`floor.py`): the same children without the operator, timed the same way, and
    all Ready divided by it.

Run: `make bench-operator` or `python -m bench.operator.run --queues 500`.
Targets: 500 queues all Ready <= 45 s, pass p95 <= 2 s, peak RSS <= 200 MiB, idle CPU
<= 5 % of one core; 2,000 queues all Ready <= 120 s, peak RSS <= 300 MiB.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import signal
import statistics
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from queuefleet_operator.config import OperatorConfig

from testbed.cluster import (
    Cluster,
    install_crds,
    keda_crds_dir,
    start_kwok_cluster,
    stop_kwok_cluster,
)
from testbed.operator import OperatorOptions
from testbed.operator import start_operator as testbed_start_operator
from testbed.process import Process, artifacts_dir
from testbed.temporal import start_temporal

from .floor import measure_floor
from .watches import KedaStandIn, ReadyCount

REPO_ROOT = Path(__file__).resolve().parents[2]
CRD_DIR = REPO_ROOT / "k8s" / "crd"
# Client rate limits high enough that kube-controller-manager's and kube-scheduler's
# defaults (20 requests/s) do not decide how fast 500 Deployments roll out: the benchmark
# measures the operator, not the test bed.
CONTROL_PLANE_RATE_LIMITS = tuple(
    f"{component}={flag}"
    for component in ("kube-controller-manager", "kube-scheduler")
    for flag in ("kube-api-qps=300", "kube-api-burst=600")
)
NAMESPACE = "bench"
WORKER_IMAGE = OperatorOptions.worker_image  # what the operator is started with
# Targets by fleet size (issue "operator correctness"); other sizes print no verdict.
TARGETS_BY_QUEUES: dict[int, dict[str, float]] = {
    500: {
        "all_ready_seconds": 45.0,
        "p95_seconds": 2.0,
        "peak_rss_mib": 200.0,
        "idle_cpu_percent_of_one_core": 5.0,
    },
    2000: {"all_ready_seconds": 120.0, "p95_seconds": 2.0, "peak_rss_mib": 300.0},
}
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_RECONCILE_HISTOGRAM = "queuefleet_operator_reconcile_duration_seconds"
_WAIT_HISTOGRAM = "queuefleet_operator_work_queue_wait_seconds"


# ---- the operator process, seen through /proc -------------------------------------------


def _stat_cpu_seconds(stat: str) -> float:
    """utime + stime from the text of /proc/PID/stat (fields after the command name)."""
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def cpu_seconds(pid: int) -> float:
    return _stat_cpu_seconds(Path(f"/proc/{pid}/stat").read_text())


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):  # the kernel's high-water mark of resident memory
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"/proc/{pid}/status has no VmHWM")


# The test bed's processes by their command name (/proc/PID/comm, at most 15 characters).
TESTBED_COMPONENTS = {
    "kube-apiserver": "kube-apiserver",
    "etcd": "etcd",
    "kube-controller": "kube-controller-manager",
    "kube-scheduler": "kube-scheduler",
    "kwok-controller": "kwok",
    "temporal": "temporal (dev server)",
}


def testbed_cpu_seconds() -> dict[str, float]:
    """CPU seconds so far of each test-bed component (every process with that name)."""
    totals = dict.fromkeys(TESTBED_COMPONENTS.values(), 0.0)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # exited meanwhile
        name = text[text.index("(") + 1 : text.rindex(")")]
        component = TESTBED_COMPONENTS.get(name)
        if component is not None:
            totals[component] += _stat_cpu_seconds(text)
    return totals


def machine_busy_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, all cores (/proc/stat)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields) - idle) / _CLOCK_TICKS, sum(fields) / _CLOCK_TICKS


# ---- the test bed -------------------------------------------------------------------------


@contextmanager
def testbed(workdir: Path) -> Iterator[tuple[Cluster, str]]:
    """A private kwok cluster with the CRDs, and a Temporal dev server; both torn down."""
    with ExitStack() as stack:
        cluster = start_kwok_cluster(workdir / "kwok", extra_args=CONTROL_PLANE_RATE_LIMITS)
        stack.callback(stop_kwok_cluster, workdir / "kwok", cluster)
        install_crds(cluster, CRD_DIR)
        install_crds(cluster, keda_crds_dir())
        cluster.kubectl("create", "namespace", NAMESPACE)
        server, endpoint = start_temporal(workdir / "temporal")
        stack.callback(server.stop)
        yield cluster, endpoint.address


def ensure_pod_capacity(cluster: Cluster, pods: int) -> None:
    """Add kwok-managed fake nodes when the ones there cannot hold `pods` more pods."""
    nodes = json.loads(cluster.kubectl("get", "nodes", "-o", "json").stdout)["items"]
    free = sum(int(n["status"].get("allocatable", {}).get("pods", 0)) for n in nodes)
    extra = math.ceil(max(0, pods + 50 - free) / 500)
    for index in range(extra):
        node = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": f"bench-node-{index}",
                "annotations": {"kwok.x-k8s.io/node": "fake"},
                "labels": {"type": "kwok", "kubernetes.io/role": "agent"},
            },
            "spec": {"taints": []},
            "status": {
                "allocatable": {"cpu": "64", "memory": "256Gi", "pods": "500"},
                "capacity": {"cpu": "64", "memory": "256Gi", "pods": "500"},
            },
        }
        cluster.kubectl("apply", "-f", "-", stdin=json.dumps(node))
    if extra:
        print(f"  added {extra} fake node(s) for {pods} pods ({free} pod slots were free)")
    # kwok's controller marks fake nodes Ready; if it is not running, no pod ever will be.
    cluster.kubectl("wait", "--for=condition=Ready", "node", "--all", "--timeout=60s", timeout=90)


def start_operator(
    cluster: Cluster,
    temporal_address: str,
    workdir: Path,
    *,
    sync_interval: float,
    profile: Path | None,
) -> tuple[Process, int]:
    # cProfile covers the event loop's thread only; written when the operator exits.
    profiling = ("-m", "cProfile", "-o", str(profile)) if profile is not None else ()
    options = OperatorOptions(
        namespace=NAMESPACE,
        temporal_address=temporal_address,
        sync_interval=sync_interval,
        temporal_timeout=5.0,  # the operator's own default (the test bed's 1 s is for tests)
        log_format="json",
        python_args=profiling,
    )
    return testbed_start_operator(
        cluster, options, log_path=workdir / "operator.log", cwd=REPO_ROOT
    )


# ---- the load ---------------------------------------------------------------------------


def queue_list(count: int) -> dict[str, Any]:
    items = [
        {
            "apiVersion": "queuefleet.dev/v1alpha1",
            "kind": "WorkflowQueue",
            "metadata": {"name": f"q{index:04d}", "namespace": NAMESPACE},
            "spec": {"taskQueue": f"bench-q{index:04d}"},
        }
        for index in range(count)
    ]
    return {"apiVersion": "v1", "kind": "List", "items": items}


def apply_at_once(cluster: Cluster, count: int, *, clients: int = 10) -> None:
    """Server-side apply every queue, from `clients` kubectl processes in parallel.

    One kubectl alone is held to 5 requests/s by client-go's default rate limiter, which
    would measure kubectl rather than the operator.
    """
    items = queue_list(count)["items"]
    chunks = [items[index::clients] for index in range(clients)]

    def apply(chunk: list[dict[str, Any]]) -> None:
        listing = {"apiVersion": "v1", "kind": "List", "items": chunk}
        cluster.kubectl(
            "apply", "--server-side", "--field-manager=bench", "-f", "-",
            stdin=json.dumps(listing), timeout=300,
        )  # fmt: skip

    with ThreadPoolExecutor(max_workers=clients) as pool:
        list(pool.map(apply, [chunk for chunk in chunks if chunk]))


def passes_by_trigger(metrics_port: int) -> dict[str, int]:
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as page:
        text = page.read().decode()
    counts: dict[str, int] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "queuefleet_operator_reconciles_total":
                trigger = sample.labels["trigger"]
                counts[trigger] = counts.get(trigger, 0) + int(sample.value)
    return counts


def list_queues(cluster: Cluster) -> list[dict[str, Any]]:
    listing = cluster.kubectl("-n", NAMESPACE, "get", "workflowqueues", "-o", "json", timeout=60)
    items: list[dict[str, Any]] = json.loads(listing.stdout)["items"]
    return items


def count_children(cluster: Cluster) -> dict[str, int]:
    counts = {}
    for kind in ("deployments", "scaledobjects", "pods"):
        names = cluster.kubectl("-n", NAMESPACE, "get", kind, "-o", "name", timeout=60).stdout
        counts[kind] = len(names.split())
    return counts


def events_by_reason(cluster: Cluster) -> dict[str, int]:
    """Kubernetes Events in the namespace, by reason: each one was an API write too."""
    listing = cluster.kubectl("-n", NAMESPACE, "get", "events", "-o", "json", timeout=60)
    counts: dict[str, int] = {}
    for event in json.loads(listing.stdout)["items"]:
        reason = str(event.get("reason", ""))
        counts[reason] = counts.get(reason, 0) + 1
    return dict(sorted(counts.items(), key=lambda item: -item[1]))


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def ready_latencies(queues: Sequence[dict[str, Any]]) -> list[float]:
    """Seconds from each queue's creation to its Ready=True transition."""
    latencies = []
    for queue in queues:
        created = _time(queue["metadata"]["creationTimestamp"])
        for c in (queue.get("status") or {}).get("conditions") or []:
            if c.get("type") == "Ready" and c.get("status") == "True":
                latencies.append((_time(c["lastTransitionTime"]) - created).total_seconds())
    return latencies


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def api_latency(metrics_port: int) -> dict[str, dict[str, float]]:
    """p50/p95 and count of the operator's own API calls, by operation."""
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as page:
        text = page.read().decode()
    buckets: dict[str, list[tuple[float, float]]] = {}
    for family in text_string_to_metric_families(text):
        if family.name != "queuefleet_operator_api_request_duration_seconds":
            continue
        for sample in family.samples:
            if sample.name.endswith("_bucket"):
                operation = sample.labels["operation"]
                buckets.setdefault(operation, []).append(
                    (float(sample.labels["le"]), float(sample.value))
                )
    return {
        operation: {
            "p50": round(histogram_quantile(sorted(rows), 0.50), 4),
            "p95": round(histogram_quantile(sorted(rows), 0.95), 4),
            "calls": int(max(count for _, count in rows)),
        }
        for operation, rows in sorted(buckets.items())
    }


def histogram(metrics_port: int, name: str) -> tuple[list[tuple[float, float]], float, float]:
    """A histogram's cumulative buckets, its count and its sum, scraped from the operator."""
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as page:
        text = page.read().decode()
    buckets: list[tuple[float, float]] = []
    count = total = 0.0
    for family in text_string_to_metric_families(text):
        if family.name != name:
            continue
        for sample in family.samples:
            if sample.name.endswith("_bucket"):
                buckets.append((float(sample.labels["le"]), float(sample.value)))
            elif sample.name.endswith("_count"):
                count = float(sample.value)
            elif sample.name.endswith("_sum"):
                total = float(sample.value)
    return sorted(buckets), count, total


def histogram_quantile(buckets: Sequence[tuple[float, float]], fraction: float) -> float:
    """Linear interpolation within the bucket holding the quantile, as PromQL does."""
    if not buckets or buckets[-1][1] == 0:
        return math.nan
    rank = fraction * buckets[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, cumulative in buckets:
        if cumulative >= rank:
            if math.isinf(bound):
                return lower_bound
            width = cumulative - lower_count
            share = (rank - lower_count) / width if width else 1.0
            return lower_bound + (bound - lower_bound) * share
        lower_bound, lower_count = bound, cumulative
    return lower_bound


# ---- the run ------------------------------------------------------------------------------


def benchmark(args: argparse.Namespace) -> dict[str, Any]:
    workdir = artifacts_dir() / "bench-operator"
    workdir.mkdir(parents=True, exist_ok=True)
    with testbed(workdir) as (cluster, temporal_address):
        ensure_pod_capacity(cluster, 2 * args.queues)  # the operator's pods, then the floor's
        operator, metrics_port = start_operator(
            cluster,
            temporal_address,
            workdir,
            sync_interval=args.sync_interval,
            profile=args.profile,
        )
        keda = KedaStandIn(cluster, NAMESPACE)
        ready_count = ReadyCount(cluster, NAMESPACE)
        try:
            keda.__enter__()
            ready_count.__enter__()
            pid = operator.popen.pid
            cpu_at_start = cpu_seconds(pid)
            testbed_at_start = testbed_cpu_seconds()
            machine_at_start = machine_busy_seconds()
            print(f"  applying {args.queues} WorkflowQueues at once", flush=True)
            started = time.monotonic()
            apply_at_once(cluster, args.queues)
            applied = time.monotonic() - started
            deadline = started + args.timeout
            ready = 0
            reported = 0.0
            while time.monotonic() < deadline:
                if not operator.alive():
                    raise RuntimeError(f"the operator exited; log {operator.log_path}")
                ready = ready_count.count()
                if ready == args.queues:
                    break
                if time.monotonic() - reported >= 10:
                    reported = time.monotonic()
                    print(
                        f"  {ready}/{args.queues} Ready after {reported - started:.0f}s", flush=True
                    )
                time.sleep(0.2)
            all_ready = time.monotonic() - started
            if ready < args.queues:
                raise RuntimeError(
                    f"only {ready}/{args.queues} queues Ready after {args.timeout:.0f}s; "
                    f"log {operator.log_path}"
                )
            cpu_burst = cpu_seconds(pid) - cpu_at_start
            testbed_burst = {
                name: round(seconds - testbed_at_start[name], 2)
                for name, seconds in testbed_cpu_seconds().items()
            }
            busy_now, total_now = machine_busy_seconds()
            busy, total = busy_now - machine_at_start[0], total_now - machine_at_start[1]
            passes_until_ready = passes_by_trigger(metrics_port)
            api_until_ready = api_latency(metrics_port)
            # Nothing new to accept or count: keep both watches out of the idle measure.
            keda.__exit__()
            ready_count.__exit__()
            queues = list_queues(cluster)
            print(f"  all {ready} Ready after {all_ready:.1f}s; now idle for {args.idle}s")
            children = count_children(cluster)
            events = events_by_reason(cluster)

            idle_from = cpu_seconds(pid)
            idle_started = time.monotonic()
            time.sleep(args.idle)
            idle_cpu = cpu_seconds(pid) - idle_from
            idle_wall = time.monotonic() - idle_started
            buckets, passes, pass_seconds = histogram(metrics_port, _RECONCILE_HISTOGRAM)
            wait_buckets, waits, wait_seconds = histogram(metrics_port, _WAIT_HISTOGRAM)
            peak = peak_rss_mib(pid)
            total_cpu = cpu_seconds(pid)
            # The floor runs without the operator: its backlog reads (and Temporal serving
            # them) would take CPU from the test bed it measures.
            operator.stop()

            print(f"  the floor: the same children for {args.queues} queues, no operator")
            floor_from = testbed_cpu_seconds()
            floor = measure_floor(
                cluster,
                queue_list(args.queues)["items"],
                OperatorConfig(temporal_address=temporal_address, worker_image=WORKER_IMAGE),
                workers=OperatorConfig().workers,
                timeout=args.timeout,
            )
            floor_cpu = {
                name: round(seconds - floor_from[name], 2)
                for name, seconds in testbed_cpu_seconds().items()
            }
            print(f"  floor: all Deployments available after {floor:.1f}s")
        finally:
            keda.__exit__()
            ready_count.__exit__()
            operator.stop()

    latencies = ready_latencies(queues)
    return {
        "queues": args.queues,
        "sync_interval_seconds": args.sync_interval,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "apply_seconds": round(applied, 2),
        "all_ready_seconds": round(all_ready, 2),
        "floor": {
            "all_available_seconds": round(floor, 2),
            "cpu_seconds": floor_cpu,
            "note": "the same children applied by the operator's client, no operator: what "
            "the test bed alone needs on this machine, measured in the same run",
        },
        "all_ready_over_floor": round(all_ready / floor, 2),
        "children": children,
        "events_by_reason": events,
        "cpu_seconds_until_all_ready": {
            "operator": round(cpu_burst, 2),
            **testbed_burst,
            "machine_busy_percent": round(100 * busy / total, 1) if total else None,
            "note": "the test bed shares the machine: its CPU bounds how fast queues can be Ready",
        },
        "ready_latency_seconds": {
            "p50": percentile(latencies, 0.50),
            "p95": percentile(latencies, 0.95),
            "max": max(latencies),
            "mean": round(statistics.fmean(latencies), 2),
            "note": "creationTimestamp to Ready lastTransitionTime; whole seconds",
        },
        "passes_per_queue_until_all_ready": {
            "total": round(sum(passes_until_ready.values()) / args.queues, 2),
            "by_trigger": {
                trigger: round(count / args.queues, 2)
                for trigger, count in sorted(passes_until_ready.items())
            },
        },
        "api_request_seconds_until_all_ready": api_until_ready,
        "reconcile_pass_seconds": {
            "p50": round(histogram_quantile(buckets, 0.50), 4),
            "p95": round(histogram_quantile(buckets, 0.95), 4),
            "passes": int(passes),
            "mean": round(pass_seconds / passes, 4) if passes else None,
        },
        "work_queue_wait_seconds": {
            "p50": round(histogram_quantile(wait_buckets, 0.50), 4),
            "p95": round(histogram_quantile(wait_buckets, 0.95), 4),
            "waits": int(waits),
            "mean": round(wait_seconds / waits, 4) if waits else None,
            "note": "time a queue waited for a worker before its pass; not part of the pass",
        },
        "operator": {
            "peak_rss_mib": round(peak, 1),
            "cpu_seconds_until_all_ready": round(cpu_burst, 2),
            "cpu_seconds_total": round(total_cpu, 2),
            "idle_seconds": round(idle_wall, 1),
            "idle_cpu_seconds": round(idle_cpu, 2),
            "idle_cpu_percent_of_one_core": round(100 * idle_cpu / idle_wall, 2),
        },
        "targets": TARGETS_BY_QUEUES.get(args.queues, {}),
    }


def verdicts(result: dict[str, Any]) -> list[tuple[str, float, float, str]]:
    """(measure, value, target, unit) rows; a value meets its target when <= target."""
    operator = result["operator"]
    targets = result["targets"]

    def target(name: str) -> float:
        return float(targets.get(name, math.inf))

    return [
        ("all Ready with children", result["all_ready_seconds"], target("all_ready_seconds"), "s"),
        ("floor (no operator)", result["floor"]["all_available_seconds"], math.inf, "s"),
        ("all Ready / floor", result["all_ready_over_floor"], math.inf, "x"),
        ("passes per queue", result["passes_per_queue_until_all_ready"]["total"], math.inf, ""),
        ("reconcile pass p50", result["reconcile_pass_seconds"]["p50"], math.inf, "s"),
        ("reconcile pass p95", result["reconcile_pass_seconds"]["p95"], target("p95_seconds"), "s"),
        ("work-queue wait p95", result["work_queue_wait_seconds"]["p95"], math.inf, "s"),
        ("creation→Ready p50", result["ready_latency_seconds"]["p50"], math.inf, "s"),
        ("creation→Ready p95", result["ready_latency_seconds"]["p95"], math.inf, "s"),
        ("peak RSS", operator["peak_rss_mib"], target("peak_rss_mib"), "MiB"),
        ("CPU until all Ready", operator["cpu_seconds_until_all_ready"], math.inf, "s"),
        (
            "idle CPU (one core)",
            operator["idle_cpu_percent_of_one_core"],
            target("idle_cpu_percent_of_one_core"),
            "%",
        ),
    ]


def print_table(result: dict[str, Any]) -> None:
    print()
    print(f"operator benchmark: {result['queues']} WorkflowQueues")
    print(f"{'measure':26} {'value':>10} {'target':>10}  verdict")
    for measure, value, target, unit in verdicts(result):
        shown = f"{value:.3f}" if isinstance(value, float) and value < 10 else f"{value}"
        bound = "" if math.isinf(target) else f"<= {target:g}"
        verdict = "" if math.isinf(target) else ("ok" if value <= target else "MISSED")
        print(f"{measure:26} {(shown + ' ' + unit).strip():>10} {bound:>10}  {verdict}")
    by_trigger = result["passes_per_queue_until_all_ready"]["by_trigger"]
    print("passes per queue by trigger: " + ", ".join(f"{k} {v}" for k, v in by_trigger.items()))
    for operation, row in result["api_request_seconds_until_all_ready"].items():
        print(f"API {operation}: {row['calls']} calls, p50 {row['p50']} s, p95 {row['p95']} s")
    cpu = result["cpu_seconds_until_all_ready"]
    shares = ", ".join(f"{k} {v}" for k, v in cpu.items() if isinstance(v, float) and k != "note")
    print(f"CPU seconds until all Ready: {shares}")
    floor_cpu = result["floor"]["cpu_seconds"]
    print("CPU seconds of the floor: " + ", ".join(f"{k} {v}" for k, v in floor_cpu.items()))
    events = result["events_by_reason"]
    print("events by reason: " + ", ".join(f"{k} {v}" for k, v in events.items()))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queues", type=int, default=500, help="WorkflowQueues (default 500)")
    parser.add_argument(
        "--idle", type=float, default=60.0, help="seconds of idle measured (default 60)"
    )
    parser.add_argument(
        "--sync-interval",
        type=float,
        default=30.0,
        help="the operator's --sync-interval (default 30, its own default)",
    )
    parser.add_argument(
        "--timeout", type=float, default=600.0, help="give up waiting for Ready after (s)"
    )
    parser.add_argument(
        "--profile", type=Path, help="write a cProfile of the operator's event loop here"
    )
    parser.add_argument(
        "--output",
        type=Path,
        help="results file (default bench-results/operator.json, operator-N.json for N != 500)",
    )
    args = parser.parse_args(argv)
    if args.queues < 1 or args.idle <= 0:
        parser.error("--queues must be >= 1 and --idle > 0")
    # SIGTERM unwinds like Ctrl-C, so the cluster, server and operator are still stopped.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    if args.output is None:
        suffix = "" if args.queues == 500 else f"-{args.queues}"
        args.output = REPO_ROOT / "bench-results" / f"operator{suffix}.json"
    result = benchmark(args)
    print_table(result)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"results: {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
