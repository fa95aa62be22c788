"""What the kind tier's operator tests share: queues, the operator's own metrics, watches.

Everything here reads the real cluster: WorkflowQueues applied with kubectl, the operator's
counters read from each replica's `/metrics` through the API server's pod proxy (no
port-forward per replica), worker pods followed with a watch (a pod's final status, with
its exit code, arrives with its deletion, which polling would miss), and Temporal histories
read with the SDK's client. Waiting is always `eventually` (a probe and a deadline).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from prometheus_client.parser import text_string_to_metric_families

from testbed.kind import KindRelease, get_json

__all__ = [
    "GRAPHS_TASK_QUEUE",
    "ActivityRun",
    "PodRecord",
    "PodWatch",
    "WorkflowBatch",
    "active_operator",
    "apply_queue",
    "condition",
    "delete_queues",
    "event_count",
    "eventually",
    "node_name",
    "operator_metric",
    "operator_pods",
    "parse_time",
    "queue",
    "reconciled",
    "sampled",
    "signal_operator",
    "sleep_graph",
    "sleep_worker",
    "sync_interval_seconds",
]

T = TypeVar("T")
API_VERSION = "queuefleet.dev/v1alpha1"
FIELD_MANAGER = "kind-tier"
# Only the graphs pack's registrar is in the image and takes its activity's duration from
# the run's input (a `database` node running pg_sleep on the dev packs database); its
# registrar serves this task queue and no other.
GRAPHS_TASK_QUEUE = "graphs.v1"
GRAPHS_REGISTRAR = "queuefleet_packs.graphs.registrar:registrar"
SLEEP_CONNECTION = "sleep"
OPERATOR_SELECTOR = "app.kubernetes.io/component=operator"
METRICS_PORT = 9090  # the chart's operator.metricsPort


def eventually(
    probe: Callable[[], T | None], *, what: str, timeout: float, every: float = 0.5
) -> T:
    """The first truthy value of `probe`, polled until `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"no {what} within {timeout:.0f}s (last: {last!r})")


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


# ---- WorkflowQueues ------------------------------------------------------------------------


def sleep_worker(**extra: Any) -> dict[str, Any]:
    """spec.worker of a graphs fleet whose `database` nodes can sleep on the packs database."""
    worker: dict[str, Any] = {
        "registrars": [GRAPHS_REGISTRAR],
        "env": [
            {
                "name": f"QUEUEFLEET_GRAPHS_DATABASE_{SLEEP_CONNECTION.upper()}",
                "valueFrom": {"secretKeyRef": {"name": "packs-db", "key": "uri"}},
            }
        ],
        # Small requests: a 2-core node also runs Temporal, KEDA and the monitoring stack.
        "resources": {"requests": {"cpu": "20m", "memory": "96Mi"}, "limits": {"memory": "384Mi"}},
    }
    worker.update(extra)
    return worker


def sleep_graph(steps: int) -> dict[str, Any]:
    """A graph of `steps` activities in sequence, each sleeping `input.seconds` in PostgreSQL."""
    nodes = [
        {
            "name": f"sleep{index}",
            "type": "database",
            "connection": SLEEP_CONNECTION,
            "sql": "SELECT %(seconds)s::float8 AS slept FROM pg_sleep(%(seconds)s::float8)",
            "parameters": {"seconds": "{{input.seconds}}"},
            "max_rows": 1,
            "timeout_seconds": 60,
        }
        for index in range(steps)
    ]
    edges: list[dict[str, str]] = [{"type": "start", "to": "sleep0"}]
    edges += [
        {"type": "sequence", "from": f"sleep{index}", "to": f"sleep{index + 1}"}
        for index in range(steps - 1)
    ]
    return {"name": "kind-sleep", "nodes": nodes, "edges": edges}


def apply_queue(release: KindRelease, name: str, spec: Mapping[str, Any]) -> None:
    body = {
        "apiVersion": API_VERSION,
        "kind": "WorkflowQueue",
        "metadata": {"name": name, "namespace": release.namespace},
        "spec": dict(spec),
    }
    release.kubectl(
        "--namespace", release.namespace, "apply", "--server-side",
        f"--field-manager={FIELD_MANAGER}", "--force-conflicts", "-f", "-",
        stdin=json.dumps(body),
    )  # fmt: skip


def queue(release: KindRelease, name: str) -> dict[str, Any]:
    result = release.kubectl(
        "--namespace", release.namespace, "get", "workflowqueue", name, "-o", "json", check=False
    )
    return json.loads(result.stdout) if result.returncode == 0 else {}


def condition(release: KindRelease, name: str, kind: str) -> dict[str, Any]:
    for item in (queue(release, name).get("status") or {}).get("conditions") or []:
        if item.get("type") == kind:
            return dict(item)
    return {}


def reconciled(release: KindRelease, name: str) -> bool:
    """The queue's status was written from its latest generation."""
    body = queue(release, name)
    observed = (body.get("status") or {}).get("observedGeneration")
    return bool(body) and observed == body["metadata"]["generation"]


def delete_queues(release: KindRelease, names: Iterable[str], *, timeout: float = 180) -> None:
    """Delete the queues and wait until their worker pods are gone (owner references)."""
    names = list(names)
    release.kubectl(
        "--namespace", release.namespace, "delete", "workflowqueue", *names,
        "--ignore-not-found", "--wait=true", timeout=timeout,
    )  # fmt: skip
    selector = f"app.kubernetes.io/instance in ({','.join(names)})"
    eventually(
        lambda: not get_json(release, "pods", "-l", selector)["items"],
        what=f"worker pods of {names} gone",
        timeout=timeout,
    )


def event_count(release: KindRelease, reason: str, names: Iterable[str]) -> int:
    """How often events of `reason` were posted on the WorkflowQueues `names`."""
    listing = get_json(release, "events", "--field-selector", f"reason={reason}")
    wanted = set(names)
    return sum(
        int(item.get("count") or 1)
        for item in listing["items"]
        if item["involvedObject"].get("kind") == "WorkflowQueue"
        and item["involvedObject"].get("name") in wanted
    )


# ---- the operator --------------------------------------------------------------------------


def operator_pods(release: KindRelease) -> list[dict[str, Any]]:
    pods = get_json(release, "pods", "-l", OPERATOR_SELECTOR)["items"]
    return [p for p in pods if not p["metadata"].get("deletionTimestamp")]


def operator_metric(
    release: KindRelease, pod: str, name: str, *, timeout: float = 10, **labels: str
) -> float | None:
    """The sum of one operator replica's samples of `name` matching `labels`; None when the
    replica does not answer (stopped, restarting)."""
    path = f"/api/v1/namespaces/{release.namespace}/pods/{pod}:{METRICS_PORT}/proxy/metrics"
    try:
        result = release.kubectl(
            "get", "--raw", path, f"--request-timeout={int(timeout)}s", check=False,
            timeout=timeout + 5,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return None
    if result.returncode != 0:
        return None
    total = 0.0
    for family in text_string_to_metric_families(result.stdout):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


def active_operator(release: KindRelease) -> str | None:
    """The one replica whose `queuefleet_operator_active` is 1, if exactly one is."""
    names = [p["metadata"]["name"] for p in operator_pods(release)]
    active = [n for n in names if operator_metric(release, n, "queuefleet_operator_active") == 1]
    return active[0] if len(active) == 1 else None


def sync_interval_seconds(release: KindRelease) -> float:
    """The operator's --sync-interval, from its Deployment (what the chart rendered)."""
    (deployment,) = get_json(release, "deployments", "-l", OPERATOR_SELECTOR)["items"]
    for arg in deployment["spec"]["template"]["spec"]["containers"][0].get("args", []):
        if arg.startswith("--sync-interval="):
            return float(arg.partition("=")[2])
    return 30.0  # the operator's default


def node_name(release: KindRelease) -> str:
    """The cluster's single node (also the name of its Docker container)."""
    (node,) = json.loads(release.kubectl("get", "nodes", "-o", "json").stdout)["items"]
    return str(node["metadata"]["name"])


def signal_operator(release: KindRelease, pod: str, signal: str) -> None:
    """Send `signal` to the operator process of `pod` from the node, as the kernel would
    deliver it (SIGSTOP freezes it without a goodbye to its peers; SIGKILL ends it).

    The container's init is tini; the operator is its child, so both get the signal."""
    body = get_json(release, "pod", pod)
    (status,) = body["status"]["containerStatuses"]
    container = status["containerID"].partition("://")[2]
    node = body["spec"]["nodeName"]
    inspect = subprocess.run(
        ["docker", "exec", node, "crictl", "inspect", container],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    pid = int(json.loads(inspect.stdout)["info"]["pid"])
    # Children first, so a SIGKILL'd init cannot take them down before they are signalled.
    script = f"kill -{signal} $(cat /proc/{pid}/task/*/children) {pid}"
    subprocess.run(
        ["docker", "exec", node, "sh", "-c", script],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip


# ---- worker pods ---------------------------------------------------------------------------


@dataclass
class PodRecord:
    """A worker pod's last state seen by the watch."""

    name: str
    grace_seconds: int
    deletion_requested: datetime | None = None
    started: datetime | None = None  # the worker container's last start
    finished: datetime | None = None
    exit_code: int | None = None
    # The kubelet's reason and, on an error exit, the log tail (FallbackToLogsOnError).
    exit_reason: str = ""
    exit_message: str = ""
    deleted: bool = False

    @property
    def never_signalled(self) -> bool:
        """Killed at the end of its grace period with no stop signal in its log: the kubelet
        never delivered SIGTERM (a pod deleted while its container was being created)."""
        return self.exit_code == 137 and "SIGTERM received" not in self.exit_message

    @property
    def drain_seconds(self) -> float | None:
        """From the deletion request (scale-in, eviction) to the container's exit."""
        if self.deletion_requested is None or self.finished is None:
            return None
        return (self.finished - self.deletion_requested).total_seconds()

    @staticmethod
    def from_pod(body: Mapping[str, Any], *, deleted: bool) -> PodRecord:
        metadata, spec = body["metadata"], body.get("spec") or {}
        record = PodRecord(
            name=metadata["name"],
            grace_seconds=int(spec.get("terminationGracePeriodSeconds") or 30),
            deleted=deleted,
        )
        if metadata.get("deletionTimestamp"):
            # deletionTimestamp is the request plus the grace period. Once the container has
            # exited, the kubelet's final delete sets both to "now" and 0, which says when
            # the pod went, not when it was asked to: _merged keeps the earliest request.
            given = metadata.get("deletionGracePeriodSeconds")
            grace = record.grace_seconds if given is None else int(given)
            deadline = parse_time(metadata["deletionTimestamp"])
            record.deletion_requested = deadline - timedelta(seconds=grace)
        for status in (body.get("status") or {}).get("containerStatuses") or []:
            state = status.get("state") or {}
            if "running" in state:
                record.started = parse_time(state["running"]["startedAt"])
            terminated = state.get("terminated")
            if terminated:
                record.exit_code = int(terminated["exitCode"])
                record.exit_reason = str(terminated.get("reason") or "")
                record.exit_message = str(terminated.get("message") or "")[-1500:]
                if terminated.get("startedAt"):
                    record.started = parse_time(terminated["startedAt"])
                if terminated.get("finishedAt"):
                    record.finished = parse_time(terminated["finishedAt"])
        return record


class PodWatch:
    """Every pod matching `selector`, as last seen by a watch, until the block ends."""

    def __init__(self, release: KindRelease, selector: str) -> None:
        self._release = release
        self._selector = selector
        self.pods: dict[str, PodRecord] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="pod watch")
        self.error: BaseException | None = None

    def __enter__(self) -> PodWatch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def snapshot(self) -> dict[str, PodRecord]:
        with self._lock:
            return dict(self.pods)

    def _run(self) -> None:
        from kubernetes import client, config, watch

        api = client.CoreV1Api(
            config.new_client_from_config(  # type: ignore[no-untyped-call]
                config_file=str(self._release.cluster.kubeconfig), context=self._release.context
            )
        )
        version: str | None = None
        try:
            while not self._stop.is_set():
                stream = watch.Watch()  # type: ignore[no-untyped-call]
                options: dict[str, Any] = {"label_selector": self._selector, "timeout_seconds": 5}
                if version:
                    options["resource_version"] = version
                try:
                    for event in stream.stream(  # type: ignore[no-untyped-call]
                        api.list_namespaced_pod, self._release.namespace, **options
                    ):
                        body = event["raw_object"]
                        record = PodRecord.from_pod(body, deleted=event["type"] == "DELETED")
                        with self._lock:
                            previous = self.pods.get(record.name)
                            self.pods[record.name] = _merged(previous, record)
                        version = body["metadata"].get("resourceVersion") or version
                        if self._stop.is_set():
                            break
                except client.ApiException as error:
                    if error.status != 410:
                        raise
                    version = None  # too old: list again (ADDED events for what exists)
        except BaseException as error:  # reported by the test that reads the watch
            self.error = error
        finally:
            api.api_client.close()


def _merged(previous: PodRecord | None, record: PodRecord) -> PodRecord:
    """Keep what an earlier event knew and a later one no longer says."""
    if previous is None:
        return record
    if previous.deletion_requested is not None:
        record.deletion_requested = previous.deletion_requested
    record.started = record.started or previous.started
    record.deleted = record.deleted or previous.deleted
    return record


# ---- Temporal ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ActivityRun:
    """One activity of a workflow's history: where and how often it ran."""

    workflow_id: str
    activity_id: str
    attempt: int
    started_by: str  # the worker identity, "<pid>@<pod name>"
    completed_by: str | None  # None: it did not complete
    started_at: datetime
    closed_at: datetime | None

    @property
    def started_pod(self) -> str:
        return self.started_by.rpartition("@")[2]

    @property
    def completed_pod(self) -> str | None:
        return None if self.completed_by is None else self.completed_by.rpartition("@")[2]


@dataclass
class WorkflowBatch:
    """Start `count` runs of `graph` and wait for them, on a thread of their own, so the
    test can watch the cluster meanwhile."""

    address: str
    task_queue: str
    graph: Mapping[str, Any]
    run_input: Mapping[str, Any]
    count: int
    timeout_seconds: float = 300
    ids: list[str] = field(default_factory=list)
    statuses: dict[str, str] = field(default_factory=dict)
    activities: list[ActivityRun] = field(default_factory=list)
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)
    started: threading.Event = field(default_factory=threading.Event)

    def start(self) -> WorkflowBatch:
        threading.Thread(target=self._run, daemon=True, name="workflow batch").start()
        if not self.started.wait(60) and self.error is None:
            raise AssertionError("the workflows were not started within 60s")
        if self.error is not None:
            raise self.error
        return self

    def _run(self) -> None:
        try:
            asyncio.run(self._all())
        except BaseException as error:  # re-raised by start() or read by the test
            self.error = error
        finally:
            self.started.set()
            self.done.set()

    async def _all(self) -> None:
        from temporalio.client import Client

        client = await Client.connect(self.address, namespace="default")
        prefix = f"kind-{uuid.uuid4().hex[:8]}"
        handles = [
            await client.start_workflow(
                "GraphWorkflow",
                {"graph": dict(self.graph), "input": dict(self.run_input)},
                id=f"{prefix}-{index}",
                task_queue=self.task_queue,
                execution_timeout=timedelta(seconds=self.timeout_seconds),
            )
            for index in range(self.count)
        ]
        self.ids = [handle.id for handle in handles]
        self.started.set()
        for handle in handles:
            with contextlib.suppress(Exception):  # the status below says how it ended
                await handle.result()
            description = await handle.describe()
            self.statuses[handle.id] = description.status.name if description.status else "?"
            self.activities.extend(_activity_runs(handle.id, await handle.fetch_history()))


def _activity_runs(workflow_id: str, history: Any) -> list[ActivityRun]:
    from temporalio.api.enums.v1 import EventType

    scheduled: dict[int, str] = {}
    started: dict[int, Any] = {}
    runs: list[ActivityRun] = []
    for event in history.events:
        kind = event.event_type
        if kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            scheduled[event.event_id] = event.activity_task_scheduled_event_attributes.activity_id
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            started[event.event_id] = event
        elif kind in (
            EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED,
            EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED,
            EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT,
        ):
            attributes = (
                event.activity_task_completed_event_attributes
                if kind == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
                else event.activity_task_failed_event_attributes
                if kind == EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED
                else event.activity_task_timed_out_event_attributes
            )
            start = started.get(attributes.started_event_id)
            if start is None:
                continue
            attrs = start.activity_task_started_event_attributes
            runs.append(
                ActivityRun(
                    workflow_id=workflow_id,
                    activity_id=scheduled.get(attributes.scheduled_event_id, "?"),
                    attempt=int(attrs.attempt),
                    started_by=str(attrs.identity),
                    completed_by=str(attributes.identity)
                    if kind == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
                    else None,
                    started_at=start.event_time.ToDatetime(tzinfo=UTC),
                    closed_at=event.event_time.ToDatetime(tzinfo=UTC),
                )
            )
    return runs


@contextlib.contextmanager
def sampled(probe: Callable[[], None], every: float = 1.0) -> Iterator[None]:
    """Run `probe` every `every` seconds on a thread while the block runs."""
    stop = threading.Event()

    def run() -> None:
        while not stop.wait(every):
            with contextlib.suppress(Exception):  # a failed sample is a missed sample
                probe()

    thread = threading.Thread(target=run, daemon=True, name="sampler")
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=30)
