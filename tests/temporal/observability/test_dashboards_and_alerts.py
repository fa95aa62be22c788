"""Every dashboard query and alert expression, run against a real Prometheus scraping a real
Temporal dev server, two real `queuefleet worker` processes under `queuefleet load`, the
operator's metrics and the Kubernetes-only series of a recorded exposition.

The operator's series come from its real `OperatorMetrics` registry, served on loopback;
its backlog gauge is fed by the operator's own `BacklogReader` reading the real queue (a
reconcile loop needs a cluster, so the reconcile counters are set by the test).
kube-state-metrics and KEDA series come from fixtures/*.prom, served to Prometheus as
scrape targets: they exist only on a cluster.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client

from observability.alerts import PLAIN_TARGET, alert_groups
from observability.dashboards import DASHBOARDS
from observability.generate import DASHBOARD_DIR
from observability.promql import metric_names as names_in
from observability.promql import resolve
from testbed.process import Process, TestbedError, free_port
from testbed.prometheus import PrometheusEndpoint, start_prometheus
from tests.conftest import component_missing
from tests.temporal.observability.bed import (
    FIXTURES,
    Worker,
    metric_names,
    poll,
    run_load,
    serve_texts,
    start_temporal,
    start_worker,
    worker_ports,
)
from tests.temporal.observability.registrar import TASK_QUEUE, WORKFLOW_TYPE, OrderInput

pytestmark = pytest.mark.timeout(240)

# Panels whose series exist only on a cluster; checked against fixtures/*.prom.
KUBERNETES_PANELS = {
    "Desired vs actual replicas",
    "Scaling events",
    "KEDA scaler: metric and activity",
    "KEDA scaler errors",
}
KUBERNETES_JOBS = {"kube-state-metrics", "keda"}
NO_POLLERS = next(
    a.expr
    for g in alert_groups(PLAIN_TARGET)
    for a in g.alerts
    if a.name == "QueuefleetNoPollersWithBacklog"
)
FAILURE_RATIO = next(
    a.expr
    for g in alert_groups(PLAIN_TARGET)
    for a in g.alerts
    if a.name == "QueuefleetActivityFailureRatioHigh"
)


@dataclass
class Bed:
    prometheus: PrometheusEndpoint
    no_pollers_while_backlog: list[dict[str, Any]] = field(default_factory=list)
    load_report: dict[str, Any] = field(default_factory=dict)


def _dashboard_queries() -> list[tuple[str, str, str]]:
    """(dashboard uid, panel title, expr) of every committed dashboard's panels."""
    queries = []
    for spec in DASHBOARDS:
        model = json.loads((DASHBOARD_DIR / f"{spec.uid}.json").read_text())
        for panel in model["panels"]:
            for target in panel.get("targets", []):
                queries.append((spec.uid, panel["title"], target["expr"]))
    return queries


def _alert_exprs() -> list[tuple[str, str]]:
    return [(a.name, a.expr) for g in alert_groups(PLAIN_TARGET) for a in g.alerts]


@pytest.fixture(scope="module")
async def bed(artifacts: Path) -> AsyncIterator[Bed]:
    from prometheus_client import start_http_server
    from queuefleet_operator.backlog import BacklogQuery, BacklogReader
    from queuefleet_operator.metrics import OperatorMetrics

    workdir = artifacts / "observability" / uuid.uuid4().hex[:8]
    processes: list[Process] = []
    stop_reading = asyncio.Event()
    try:
        temporal, address, temporal_metrics = start_temporal(workdir / "temporal")
    except TestbedError as error:
        component_missing(str(error))
        raise
    processes.append(temporal)

    # The operator's registry, as its /metrics serves it.
    statuses = [
        {"conditions": [{"type": "Ready", "status": "True"},
                        {"type": "TemporalReachable", "status": "True"}]},
        {"conditions": [{"type": "Ready", "status": "False"},
                        {"type": "TemporalReachable", "status": "True"}]},
    ]  # fmt: skip
    operator = OperatorMetrics(statuses=lambda: statuses)
    operator.reconciles.labels(trigger="create", result="ok").inc()
    operator.reconciles.labels(trigger="timer", result="error").inc()
    operator.reconcile_seconds.observe(0.04)
    operator.errors.labels(operation="backlog").inc(0)
    operator.applies.labels(kind="Deployment").inc()
    operator_port = free_port()
    operator_server, _ = start_http_server(
        operator_port, addr="127.0.0.1", registry=operator.registry
    )
    reader = BacklogReader(timeout_seconds=5)
    query = BacklogQuery(
        address=address, namespace="default", task_queue=TASK_QUEUE,
        queue_types=("workflow", "activity"),
    )  # fmt: skip

    async def read_backlog() -> None:
        """The operator's backlog reading for the queue, once a second (it does so per poll)."""
        while not stop_reading.is_set():
            try:
                reading = await reader.read(query)
                operator.backlog.labels("default", "orders", TASK_QUEUE).set(
                    reading.approximate_count
                )
                operator.backlog_age.labels("default", "orders", TASK_QUEUE).set(
                    reading.approximate_age_seconds
                )
                operator.reconciles.labels(trigger="timer", result="ok").inc()
            except Exception:
                operator.errors.labels(operation="backlog").inc()
            await asyncio.sleep(1)

    reading_task = asyncio.create_task(read_backlog())
    worker_names = ("worker-a", "worker-b")
    workers: list[Worker] = []
    with serve_texts(
        {
            "/kube-state-metrics/metrics": (FIXTURES / "kube-state-metrics.prom").read_bytes(),
            "/keda/metrics": (FIXTURES / "keda-operator.prom").read_bytes(),
        }
    ) as fixtures_url:
        try:
            # Workers start later (first a backlog nobody polls); Prometheus knows them now.
            ports = {name: worker_ports() for name in worker_names}
            prometheus_process, prometheus = start_prometheus(
                workdir / "prometheus",
                {
                    "temporal": [temporal_metrics],
                    "worker": [f"http://127.0.0.1:{m}/metrics" for _, m in ports.values()],
                    "queuefleet-operator": [f"http://127.0.0.1:{operator_port}/metrics"],
                    "kube-state-metrics": [f"{fixtures_url}/kube-state-metrics/metrics"],
                    "keda": [f"{fixtures_url}/keda/metrics"],
                },
            )
            processes.append(prometheus_process)
            bed = Bed(prometheus=prometheus)
            input_path = workdir / "input.json"
            input_path.write_text(json.dumps({"number": "{i}"}))

            # 1. A backlog nobody polls: the server's and the operator's gauges see it, and
            #    the no-pollers alert expression selects the queue.
            await run_load(
                address=address, workflows=30, concurrent=10, input_path=input_path,
                start_only=True, timeout=60,
            )  # fmt: skip
            await poll(
                lambda: prometheus.query(
                    'sum(physical_approximate_backlog_count{taskqueue="orders"}) > 0'
                ),
                timeout=40,
                what="the server's backlog gauge",
            )
            bed.no_pollers_while_backlog = await poll(
                lambda: prometheus.query(NO_POLLERS),
                timeout=20,
                what="the no-pollers expression to select the queue",
            )

            # 2. Real workers and a real load: successes, retries, failures, timeouts.
            workers = [
                start_worker(
                    name, address=address, task_queue=TASK_QUEUE, logs=workdir, ports=ports[name]
                )
                for name in worker_names
            ]
            processes.extend(w.process for w in workers)
            for worker in workers:
                await asyncio.to_thread(
                    worker.process.wait_until, worker.ready, timeout=60, what="/readyz"
                )
            client = await Client.connect(address, namespace="default")
            for index in range(3):  # they wait 30s on a timer: the 2s timeout ends them
                await client.start_workflow(
                    WORKFLOW_TYPE,
                    OrderInput(number=str(index), wait_seconds=30),
                    id=f"timeout-{index}-{uuid.uuid4().hex[:6]}",
                    task_queue=TASK_QUEUE,
                    execution_timeout=timedelta(seconds=2),
                )
            bed.load_report = await run_load(
                address=address, workflows=60, concurrent=10, input_path=input_path,
                start_only=False, timeout=90,
            )  # fmt: skip
            yield bed
        finally:
            stop_reading.set()
            await asyncio.wait_for(reading_task, timeout=10)
            operator_server.shutdown()
            for process in reversed(processes):
                process.stop()
            for worker in workers:
                worker.process.stop()
    shutil.rmtree(workdir / "temporal", ignore_errors=True)


async def test_every_dashboard_query_returns_data(bed: Bed) -> None:
    queries = _dashboard_queries()
    assert len(queries) > 30

    def missing() -> list[str]:
        return [
            f"{uid} / {title}: {expr}"
            for uid, title, expr in queries
            if not bed.prometheus.query(resolve(expr, rate_interval="30s"))
        ]

    try:
        await poll(lambda: not missing(), timeout=60, what="every panel query to return data")
    except AssertionError:
        pytest.fail("panels without data:\n" + "\n".join(missing()))


async def test_kubernetes_only_panels_read_the_recorded_series(bed: Bed) -> None:
    kube_panels = {
        title for _, title, expr in _dashboard_queries()
        if any(n.startswith(("kube_", "keda_")) for n in names_in(expr))
    }  # fmt: skip
    assert kube_panels == KUBERNETES_PANELS
    for _, title, expr in _dashboard_queries():
        for name in names_in(expr):
            if name.startswith(("kube_", "keda_")):
                jobs = {
                    r["metric"]["job"] for r in bed.prometheus.query(f"count by (job) ({name})")
                }
                assert jobs, f"{title}: nothing exposes {name}"
                assert jobs <= KUBERNETES_JOBS, f"{title}: {name} from {jobs}"


async def test_every_metric_name_used_exists_in_the_scraped_set(bed: Bed) -> None:
    used: dict[str, set[str]] = {}
    for uid, title, expr in _dashboard_queries():
        for name in names_in(expr):
            used.setdefault(name, set()).add(f"{uid} / {title}")
    for alert, expr in _alert_exprs():
        for name in names_in(expr):
            used.setdefault(name, set()).add(f"alert {alert}")
    for spec in DASHBOARDS:  # the variables' queries too
        model = json.loads((DASHBOARD_DIR / f"{spec.uid}.json").read_text())
        for variable in model["templating"]["list"]:
            # label_values(<series selector>, <label>): the selector names the metric
            selector = re.fullmatch(r"label_values\((.*), *\w+\)", str(variable.get("query")))
            for name in names_in(selector.group(1)) if selector else ():
                used.setdefault(name, set()).add(f"{spec.uid} variable {variable['name']}")

    def unknown() -> dict[str, set[str]]:
        scraped = metric_names(bed.prometheus)
        return {name: where for name, where in used.items() if name not in scraped}

    try:
        await poll(lambda: not unknown(), timeout=30, what="every metric name to be scraped")
    except AssertionError:
        pytest.fail(f"metric names nothing exposes: {unknown()}")


async def test_every_alert_expression_evaluates(bed: Bed) -> None:
    for _alert, expr in _alert_exprs():
        bed.prometheus.query(expr)  # raises on a PromQL or evaluation error


async def test_alerts_tell_the_truth_about_the_run(bed: Bed) -> None:
    # The server's backlog panel shows the loaded queue, not the server's system queues.
    backlog = next(q for q in DASHBOARDS[0].panels[0].queries)
    queues = {r["metric"]["taskqueue"] for r in bed.prometheus.query(resolve(backlog.expr))}
    assert queues == {TASK_QUEUE}
    # While nobody polled, the no-pollers expression selected exactly the loaded queue...
    assert [r["metric"]["task_queue"] for r in bed.no_pollers_while_backlog] == [TASK_QUEUE]
    # ...and once the workers poll, it selects nothing.
    await poll(lambda: not bed.prometheus.query(NO_POLLERS), timeout=30, what="pollers to count")
    # The load fails 18 of 72 activity attempts (6 declined, 12 retried once): a ratio of
    # about 0.25, above the alert's 0.1.
    assert bed.load_report["workflows"] == 60
    assert bed.load_report["failed"] == 6, bed.load_report
    ratio = await poll(
        lambda: bed.prometheus.query(FAILURE_RATIO), timeout=30, what="the failure ratio"
    )
    (series,) = ratio
    assert series["metric"]["activity_type"] == "charge_order"
    assert 0.15 < float(series["value"][1]) < 0.35, series


async def test_previews_render_from_prometheus(bed: Bed, artifacts: Path) -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        component_missing("matplotlib is not installed (the `observability` extra)")
    from observability.preview import fetch_panel, render_dashboard

    panel = next(p for p in DASHBOARDS[1].panels if p.title == "Task slots used")
    series = await asyncio.to_thread(fetch_panel, panel, bed.prometheus.url, minutes=2)
    # queuefleet's workers only: not the Temporal server's own system workers
    assert {s.label for s in series} == {
        "orders WorkflowWorker",
        "orders ActivityWorker",
        "orders LocalActivityWorker",
    }
    out = artifacts / "observability" / "previews"  # kept, to look at
    for spec in DASHBOARDS:
        path = await asyncio.to_thread(render_dashboard, spec, bed.prometheus.url, out, minutes=2)
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert path.stat().st_size > 20000, path
