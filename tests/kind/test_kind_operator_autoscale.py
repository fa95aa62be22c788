"""A backlog scales two fleets out and back in KEDA's real loop, with no noise from the operator.

Two WorkflowQueues serve the graphs pack's task queue (its registrar serves that one only),
one with minReplicas 1 and one with minReplicas 0. A batch of workflows, each three
activities in a row that sleep 15 s in PostgreSQL, makes KEDA scale both out (1 → N,
0 → N) and, once the backlog is gone, back in while activities are still running (N → 1,
N → 0). Then one `kubectl rollout restart`. Measured, on the operator's own counters and
the queues' events: no apply and no DriftRepaired event for any of that; a hand-edited
image is restored within one sync interval. Measured on the workers: every activity ran
once (attempt 1) and completed on the pod that started it, pods being scaled in included;
every workflow completed; every pod exited 0 within its terminationGracePeriodSeconds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from testbed.kind import KindRelease, get_json
from tests.kind.fleets import (
    GRAPHS_TASK_QUEUE,
    ActivityRun,
    PodRecord,
    PodWatch,
    WorkflowBatch,
    active_operator,
    apply_queue,
    delete_queues,
    event_count,
    eventually,
    operator_metric,
    reconciled,
    sampled,
    sleep_graph,
    sleep_worker,
    sync_interval_seconds,
)

ONE, ZERO = "autoscale-min1", "autoscale-min0"  # the fleets' WorkflowQueues
FLEETS = {ONE: 1, ZERO: 0}  # name -> minReplicas
MAX_REPLICAS = 3
SLOTS_PER_POD = 2  # maxConcurrentActivities
WORKFLOWS = 8
STEPS = 3  # activities per workflow, in sequence: work goes on after the backlog is gone
ACTIVITY_SECONDS = 15
SELECTOR = f"app.kubernetes.io/instance in ({ONE},{ZERO})"
WORKER_CONTAINER = "worker"
# Counters of the active operator that must not move while only KEDA and kubectl act.
WRITE_COUNTERS = (
    "queuefleet_operator_child_applies_total",
    "queuefleet_operator_drift_repairs_total",
)


def fleet_spec(min_replicas: int) -> dict[str, Any]:
    return {
        "taskQueue": GRAPHS_TASK_QUEUE,
        "worker": sleep_worker(concurrency={"maxConcurrentActivities": SLOTS_PER_POD}),
        "scaling": {
            "minReplicas": min_replicas,
            "maxReplicas": MAX_REPLICAS,
            "targetBacklogPerReplica": SLOTS_PER_POD,
            # Quick enough for a test; the defaults (15 s, 300 s, 300 s) are for production.
            "pollingIntervalSeconds": 5,
            "cooldownSeconds": 15,
            "scaleDownStabilizationSeconds": 10,
        },
    }


def deployments(release: KindRelease) -> dict[str, dict[str, Any]]:
    items = get_json(release, "deployments", "-l", SELECTOR)["items"]
    return {d["metadata"]["labels"]["app.kubernetes.io/instance"]: d for d in items}


def at_rest(release: KindRelease) -> bool:
    """Each fleet at its minimum, every pod of it ready, none terminating."""
    found = deployments(release)
    if set(found) != set(FLEETS):
        return False
    for name, minimum in FLEETS.items():
        spec, status = found[name]["spec"], found[name]["status"]
        if spec.get("replicas") != minimum:
            return False
        if (status.get("replicas") or 0) != minimum or (
            status.get("readyReplicas") or 0
        ) != minimum:
            return False
    pods = get_json(release, "pods", "-l", SELECTOR)["items"]
    return len(pods) == sum(FLEETS.values())


def scaled_objects_ready(release: KindRelease) -> bool:
    items = get_json(release, "scaledobjects", "-l", SELECTOR)["items"]
    ready = [
        c
        for item in items
        for c in (item.get("status") or {}).get("conditions") or []
        if c.get("type") == "Ready" and c.get("status") == "True"
    ]
    return len(ready) == len(FLEETS)


def counters(release: KindRelease, pod: str) -> dict[str, float]:
    values = {name: operator_metric(release, pod, name) for name in WRITE_COUNTERS}
    missing = [name for name, value in values.items() if value is None]
    assert not missing, f"operator {pod} did not answer for {missing}"
    return {name: float(value or 0) for name, value in values.items()}


def child_passes(release: KindRelease, pod: str) -> float:
    value = operator_metric(release, pod, "queuefleet_operator_reconciles_total", trigger="child")
    return value or 0.0


@dataclass
class ScaleCycle:
    """What one backlog and one restart did, as measured."""

    operator: str
    before: dict[str, float]
    after: dict[str, float]
    drift_events: int
    peak_replicas: dict[str, int]
    batch: WorkflowBatch
    pods: dict[str, PodRecord]
    seconds: dict[str, float] = field(default_factory=dict)

    def in_flight_at_scale_in(self) -> list[ActivityRun]:
        """Activities running on a pod when that pod was asked to stop."""
        requested = {
            name: pod.deletion_requested
            for name, pod in self.pods.items()
            if pod.deletion_requested is not None
        }
        return [
            run
            for run in self.batch.activities
            if (at := requested.get(run.started_pod)) is not None
            and run.started_at < at
            and (run.closed_at is None or at < run.closed_at)
        ]

    def stopped_pods(self) -> list[PodRecord]:
        return [p for p in self.pods.values() if p.deletion_requested and p.started]


@pytest.fixture(scope="module")
def pod_watch(kind_release: KindRelease) -> Iterator[PodWatch]:
    """The fleets' pods, watched from before the fleets exist: the minReplicas 0 fleet's
    first pod, stopped by KEDA while it is still starting, must exit as cleanly as any."""
    with PodWatch(kind_release, SELECTOR) as watch:
        yield watch


@pytest.fixture(scope="module")
def scale_cycle(
    kind_release: KindRelease,
    pod_watch: PodWatch,
    frontend: str,
    record_numbers: Callable[[str, Mapping[str, object]], None],
) -> Iterator[ScaleCycle]:
    release, watch = kind_release, pod_watch
    started = time.monotonic()
    try:
        for name, minimum in FLEETS.items():
            apply_queue(release, name, fleet_spec(minimum))
        eventually(
            lambda: scaled_objects_ready(release), what="both ScaledObjects Ready", timeout=180
        )
        eventually(lambda: at_rest(release), what="both fleets at their minimum", timeout=240)
        eventually(
            lambda: all(reconciled(release, name) for name in FLEETS),
            what="both queues reconciled",
            timeout=60,
        )
        operator = eventually(
            lambda: active_operator(release), what="one active operator", timeout=60
        )
        before = counters(release, operator)
        seconds = {"fleets ready": time.monotonic() - started}

        peak = dict.fromkeys(FLEETS, 0)
        lock = threading.Lock()

        def sample() -> None:
            for name, deployment in deployments(release).items():
                replicas = int(deployment["spec"].get("replicas") or 0)
                with lock:
                    peak[name] = max(peak[name], replicas)

        with sampled(sample):
            load_started = time.monotonic()
            batch = WorkflowBatch(
                address=frontend,
                task_queue=GRAPHS_TASK_QUEUE,
                graph=sleep_graph(STEPS),
                run_input={"seconds": ACTIVITY_SECONDS},
                count=WORKFLOWS,
            ).start()
            assert batch.done.wait(360), "the workflows did not finish within 360s"
            assert batch.error is None, f"reading the workflows failed: {batch.error!r}"
            seconds["backlog worked off"] = time.monotonic() - load_started
            eventually(
                lambda: at_rest(release), what="both fleets back at their minimum", timeout=180
            )
            seconds["1 → N → 1 and 0 → N → 0"] = time.monotonic() - load_started

            passes = child_passes(release, operator)
            restart_started = time.monotonic()
            release.kubectl(
                "--namespace", release.namespace, "rollout", "restart", f"deployment/{ONE}-worker"
            )
            release.kubectl(
                "--namespace", release.namespace, "rollout", "status", f"deployment/{ONE}-worker",
                "--timeout=180s", timeout=200,
            )  # fmt: skip
            eventually(lambda: at_rest(release), what="the restarted fleet at rest", timeout=120)
            # The restart reached the operator: a pass triggered by the child ran after it.
            eventually(
                lambda: child_passes(release, operator) > passes,
                what="an operator pass after the restart",
                timeout=60,
            )
            seconds["rollout restart"] = time.monotonic() - restart_started
            assert watch.error is None, f"the pod watch failed: {watch.error!r}"
            pods = watch.snapshot()
        assert active_operator(release) == operator, "the active operator changed mid-test"
        cycle = ScaleCycle(
            operator=operator,
            before=before,
            after=counters(release, operator),
            drift_events=event_count(release, "DriftRepaired", FLEETS),
            peak_replicas=peak,
            batch=batch,
            pods=pods,
            seconds=seconds,
        )
        record_numbers("operator: autoscale without noise", _noise_numbers(cycle))
        record_numbers("operator: scale-in drain", _drain_numbers(cycle))
        yield cycle
    finally:
        delete_queues(release, FLEETS)


def _noise_numbers(cycle: ScaleCycle) -> dict[str, object]:
    return {
        **{f"peak replicas {name}": n for name, n in cycle.peak_replicas.items()},
        "DriftRepaired events": cycle.drift_events,
        **{f"{name} delta": cycle.after[name] - cycle.before[name] for name in WRITE_COUNTERS},
        **{f"{phase} (s)": round(s, 1) for phase, s in cycle.seconds.items()},
    }


def _drain_numbers(cycle: ScaleCycle) -> dict[str, object]:
    runs = cycle.batch.activities
    worked = {r.started_pod for r in runs}
    drains = [p.drain_seconds for p in cycle.stopped_pods() if p.drain_seconds is not None]
    return {
        "workflows": len(cycle.batch.statuses),
        "workflows not completed": sum(s != "COMPLETED" for s in cycle.batch.statuses.values()),
        "activities": len(runs),
        "activities with attempt > 1": sum(r.attempt > 1 for r in runs),
        "activities in flight at scale-in": len(cycle.in_flight_at_scale_in()),
        "pods stopped": len(cycle.stopped_pods()),
        "pods exited non-zero": sum(p.exit_code != 0 for p in cycle.stopped_pods()),
        "of them never signalled by the kubelet": sum(
            p.never_signalled for p in cycle.stopped_pods()
        ),
        "longest drain (s)": round(max(drains, default=0.0), 1),
        # Each stopped pod: drain seconds, and whether it had started an activity.
        "drains (s)": sorted(
            (round(p.drain_seconds, 1), p.name in worked)
            for p in cycle.stopped_pods()
            if p.drain_seconds is not None
        ),
        "terminationGracePeriodSeconds": max(
            (p.grace_seconds for p in cycle.pods.values()), default=0
        ),
    }


def test_a_backlog_scales_both_fleets_out_and_back_in(scale_cycle: ScaleCycle) -> None:
    assert scale_cycle.peak_replicas[ONE] > 1, scale_cycle.peak_replicas
    assert scale_cycle.peak_replicas[ZERO] > 0, scale_cycle.peak_replicas
    # at_rest() held at the end: minReplicas 1 back at 1, minReplicas 0 back at 0.


def test_autoscaling_and_a_restart_cause_no_apply_and_no_drift_event(
    scale_cycle: ScaleCycle,
) -> None:
    assert scale_cycle.drift_events == 0
    assert scale_cycle.after == scale_cycle.before, (
        f"the operator wrote children while only KEDA and kubectl acted: "
        f"{scale_cycle.before} -> {scale_cycle.after}"
    )


def test_scale_in_lets_in_flight_activities_finish_on_their_pods(scale_cycle: ScaleCycle) -> None:
    batch = scale_cycle.batch
    assert len(batch.statuses) == WORKFLOWS
    assert set(batch.statuses.values()) == {"COMPLETED"}, batch.statuses
    assert len(batch.activities) == WORKFLOWS * STEPS
    retried = [r for r in batch.activities if r.attempt != 1]
    assert not retried, f"activities that ran more than once: {retried}"
    moved = [r for r in batch.activities if r.completed_pod != r.started_pod]
    assert not moved, f"activities not completed on the pod that started them: {moved}"
    in_flight = scale_cycle.in_flight_at_scale_in()
    assert in_flight, (
        "no activity was running on a pod when KEDA scaled it in, so the drain went "
        f"untested; pods stopped: {[p.name for p in scale_cycle.stopped_pods()]}"
    )
    stopped = scale_cycle.stopped_pods()
    assert stopped
    # Every pod that got its SIGTERM exits 0 within the grace period, including one scaled
    # away within its first second (tini as PID 1 and the worker's held SIGTERM; see
    # docs/worker.md). A pod deleted while its container was still being created may never
    # be signalled by the kubelet and is killed at the end of the grace period: allowed
    # only for a pod that ran no activity and whose log shows no SIGTERM, and counted.
    worked = {r.started_pod for r in batch.activities}
    for pod in stopped:
        if pod.never_signalled and pod.name not in worked:
            continue
        assert pod.drain_seconds is not None, pod
        assert pod.drain_seconds <= pod.grace_seconds, pod
        assert pod.exit_code == 0, (pod.name, pod.exit_code, pod.exit_reason, pod.exit_message)


def test_a_hand_edited_image_is_restored_within_one_sync_interval(
    kind_release: KindRelease,
    scale_cycle: ScaleCycle,
    record_numbers: Callable[[str, Mapping[str, object]], None],
) -> None:
    release, operator = kind_release, scale_cycle.operator
    deployment = f"{ONE}-worker"

    def image() -> str:
        body = get_json(release, "deployment", deployment)
        (container,) = body["spec"]["template"]["spec"]["containers"]
        return str(container["image"])

    eventually(lambda: at_rest(release), what="the fleet at rest", timeout=180)
    wanted = image()
    before = counters(release, operator)
    events_before = event_count(release, "DriftRepaired", [ONE])
    release.kubectl(
        "--namespace", release.namespace, "set", "image", f"deployment/{deployment}",
        f"{WORKER_CONTAINER}={wanted}-hand-edited",
    )  # fmt: skip
    edited = time.monotonic()
    interval = sync_interval_seconds(release)
    eventually(lambda: image() == wanted, what="the image restored", timeout=interval * 3)
    restored = time.monotonic() - edited
    eventually(
        lambda: event_count(release, "DriftRepaired", [ONE]) > events_before,
        what="a DriftRepaired event",
        timeout=30,
    )
    after = counters(release, operator)
    eventually(lambda: at_rest(release), what="the fleet at rest again", timeout=180)
    record_numbers(
        "operator: hand-edited image",
        {
            "restored after (s)": round(restored, 1),
            "sync interval (s)": interval,
            "drift repairs": after["queuefleet_operator_drift_repairs_total"]
            - before["queuefleet_operator_drift_repairs_total"],
        },
    )
    assert restored <= interval
    assert (
        after["queuefleet_operator_drift_repairs_total"]
        - before["queuefleet_operator_drift_repairs_total"]
        == 1
    )
