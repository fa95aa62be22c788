"""The worker process: registry + client + temporalio Worker, probes, metrics, traces, drain.

Life of a worker:
1. Probes and `/metrics` listen at once; `/readyz` says "connecting" until the worker polls.
2. The client connects (retrying while Temporal is unreachable), the registrars serving
   the task queue contribute their workflows and activities, and the Worker starts polling.
3. SIGTERM (or SIGINT) makes `/readyz` false at once and calls `Worker.shutdown()`: polling
   stops, in-flight activities get `graceful_shutdown_timeout` to finish (they can see the
   shutdown through `activity.is_worker_shutdown()` and keep heartbeating), then the
   process exits 0. The pod's terminationGracePeriodSeconds must cover this; see
   `contract.termination_grace_period_seconds`.

Services the registrars contribute (registry.Service) start just before polling (one
that cannot start stops the worker with a StartupError naming it) and stop after the
drain, so e.g. a callback endpoint keeps answering while in-flight work finishes.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import inspect
import logging
import signal
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from .health import Health
from .registry import Contribution, Registrar, RegistrarContext, Service, assemble, serving
from .settings import WorkerSettings
from .signals import STOP_SIGNALS, held_stop_signal
from .tracing import Tracing, TracingSettings, start_tracing

if TYPE_CHECKING:
    from temporalio.client import Client, Interceptor
    from temporalio.runtime import Runtime, TelemetryConfig
    from temporalio.worker import ResourceBasedSlotConfig

    from .metrics import RuntimeMetrics

__all__ = ["StartupError", "WorkerPlan", "run_worker", "worker_options"]

logger = logging.getLogger("queuefleet.worker")

_T = TypeVar("_T")
_CONNECT_BACKOFF_START_SECONDS = 0.5
_CONNECT_BACKOFF_MAX_SECONDS = 10.0
_TRACE_FLUSH_SECONDS = 5.0
# ThreadPoolExecutor size for non-async activities when no activity limit is set.
_DEFAULT_ACTIVITY_THREADS = 100


class StartupError(RuntimeError):
    """The worker cannot start with what it was given (a port in use, rejected options)."""


@dataclass(frozen=True, kw_only=True)
class WorkerPlan:
    """Everything decided before any I/O: settings, the registrars, tracing or not."""

    settings: WorkerSettings
    registrars: Sequence[Registrar]
    tracing: TracingSettings | None
    environ: Mapping[str, str]


def worker_options(settings: WorkerSettings) -> dict[str, Any]:
    """Keyword arguments for temporalio.worker.Worker from the validated settings."""
    from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
    from temporalio.worker import (
        PollerBehaviorAutoscaling,
        PollerBehaviorSimpleMaximum,
        WorkerDeploymentConfig,
        WorkerTuner,
    )

    options: dict[str, Any] = {
        "graceful_shutdown_timeout": timedelta(seconds=settings.graceful_shutdown_seconds)
    }
    if settings.tuner == "resource-based":
        # The max-concurrency settings become the tuner's upper bounds.
        options["tuner"] = WorkerTuner.create_resource_based(
            target_memory_usage=settings.tuner_target_memory_usage,
            target_cpu_usage=settings.tuner_target_cpu_usage,
            workflow_config=_slot_config(settings.max_concurrent_workflow_tasks, minimum=5),
            activity_config=_slot_config(settings.max_concurrent_activities, minimum=1),
        )
    else:
        if settings.max_concurrent_activities is not None:
            options["max_concurrent_activities"] = settings.max_concurrent_activities
        if settings.max_concurrent_workflow_tasks is not None:
            options["max_concurrent_workflow_tasks"] = settings.max_concurrent_workflow_tasks
    for key, pollers in (
        ("workflow_task_poller_behavior", settings.workflow_task_pollers),
        ("activity_task_poller_behavior", settings.activity_task_pollers),
    ):
        if settings.poller_autoscaling:
            maximum = pollers or 100
            options[key] = PollerBehaviorAutoscaling(
                minimum=1, maximum=maximum, initial=min(5, maximum)
            )
        elif pollers is not None:
            options[key] = PollerBehaviorSimpleMaximum(maximum=pollers)
    if settings.deployment_name is not None and settings.build_id is not None:
        options["deployment_config"] = WorkerDeploymentConfig(
            version=WorkerDeploymentVersion(
                deployment_name=settings.deployment_name, build_id=settings.build_id
            ),
            use_worker_versioning=True,
            default_versioning_behavior=(
                VersioningBehavior.PINNED
                if settings.default_versioning_behavior == "pinned"
                else VersioningBehavior.AUTO_UPGRADE
            ),
        )
    return options


def _slot_config(maximum: int | None, *, minimum: int) -> ResourceBasedSlotConfig:
    from temporalio.worker import ResourceBasedSlotConfig

    if maximum is None:
        return ResourceBasedSlotConfig()
    return ResourceBasedSlotConfig(minimum_slots=min(minimum, maximum), maximum_slots=maximum)


async def run_worker(plan: WorkerPlan) -> int:
    """Run until SIGTERM/SIGINT and drain; 0 after a clean drain, 1 if the worker failed."""
    from .metrics import RuntimeMetrics, create_sdk_runtime

    settings = plan.settings
    sdk = create_sdk_runtime(_core_logging())
    metrics = RuntimeMetrics(
        namespace=settings.namespace,
        task_queue=settings.task_queue,
        sdk_metrics_url=sdk.metrics_url,
    )
    metrics.registrars.set(len(serving(plan.registrars, settings.task_queue)))
    health = Health()
    stop = asyncio.Event()
    _on_stop_signals(stop)
    tracing = (
        start_tracing(
            plan.tracing,
            resource_attributes={
                "temporal.namespace": settings.namespace,
                "temporal.task_queue": settings.task_queue,
            },
        )
        if plan.tracing
        else None
    )
    servers = await _listen(settings, health, metrics)
    try:
        client = await _connect(settings, sdk.runtime, tracing, stop)
        if client is None:
            logger.info("stopped before connecting to Temporal")
            return 0
        health.client = client
        contribution = assemble(
            plan.registrars,
            RegistrarContext(
                task_queue=settings.task_queue,
                namespace=settings.namespace,
                client=client,
                environ=plan.environ,
            ),
        )
        metrics.workflows.set(len(contribution.workflows))
        metrics.activities.set(len(contribution.activities))
        return await _run_and_drain(settings, client, contribution, health, metrics, stop)
    finally:
        for server in servers:
            server.close()
        if tracing is not None:
            await _flush(tracing)


async def _run_and_drain(
    settings: WorkerSettings,
    client: Client,
    contribution: Contribution,
    health: Health,
    metrics: RuntimeMetrics,
    stop: asyncio.Event,
) -> int:
    from temporalio.worker import Worker

    executor = _activity_executor(contribution, settings)
    try:
        worker = Worker(
            client,
            task_queue=settings.task_queue,
            workflows=contribution.workflows,
            activities=contribution.activities,
            activity_executor=executor,
            **worker_options(settings),
        )
    except (TypeError, ValueError) as error:
        raise StartupError(f"the Temporal worker rejected its options: {error}") from error
    health.worker = worker
    stopped = asyncio.create_task(stop.wait(), name="stop-signal")
    started: list[Service] = []
    try:
        started = await _start_services(contribution.services)
        run = asyncio.create_task(worker.run(), name="temporal-worker")
        logger.info(
            "worker starting: task queue %s, namespace %s, %d workflows, %d activities",
            settings.task_queue,
            settings.namespace,
            len(contribution.workflows),
            len(contribution.activities),
        )
        await asyncio.wait({run, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if run.done():
            failure = run.exception()
            logger.error("worker stopped on its own: %s", failure or "no error", exc_info=failure)
            return 1
        health.draining = True
        metrics.draining.set(1)
        logger.info(
            "draining: polling stops, in-flight activities get up to %ss",
            settings.graceful_shutdown_seconds,
        )
        await worker.shutdown()
        with contextlib.suppress(Exception):
            await run  # its error, if any, was already logged by the SDK
        logger.info("drained; exiting")
        return 0
    finally:
        stopped.cancel()
        await _stop_services(started)
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)


async def _start_services(services: Sequence[Service]) -> list[Service]:
    started: list[Service] = []
    for service in services:
        try:
            await service.start()
        except Exception as error:
            await _stop_services([*started, service])  # what the failed start took, too
            raise StartupError(f"cannot start {service.name}: {error}") from error
        started.append(service)
        logger.info("started %s", service.name)
    return started


async def _stop_services(services: Sequence[Service]) -> None:
    for service in reversed(services):
        try:
            await service.stop()
        except Exception:  # one service failing to stop must not keep the others running
            logger.exception("stopping %s failed", service.name)


def _activity_executor(
    contribution: Contribution, settings: WorkerSettings
) -> concurrent.futures.ThreadPoolExecutor | None:
    """Threads for non-async activities, sized to the activity slot limit."""
    if all(inspect.iscoroutinefunction(_unwrap(a)) for a in contribution.activities):
        return None
    size = settings.max_concurrent_activities or _DEFAULT_ACTIVITY_THREADS
    return concurrent.futures.ThreadPoolExecutor(max_workers=size, thread_name_prefix="activity")


def _unwrap(activity: Any) -> Any:
    # Callable class instances count as async when their __call__ is.
    if not inspect.isfunction(activity) and not inspect.ismethod(activity):
        call = getattr(activity, "__call__", None)  # noqa: B004 - we want the bound method
        return call if call is not None else activity
    return activity


async def _connect(
    settings: WorkerSettings, runtime: Runtime, tracing: Tracing | None, stop: asyncio.Event
) -> Client | None:
    """Connect, retrying with backoff while Temporal is unreachable; None if stopped first."""
    from temporalio.client import Client

    interceptors: list[Interceptor] = [tracing.interceptor] if tracing else []
    delay = _CONNECT_BACKOFF_START_SECONDS
    while not stop.is_set():
        try:
            connected = await _unless_stopped(
                Client.connect(
                    **settings.connect_config, runtime=runtime, interceptors=interceptors
                ),
                stop,
            )
            if connected is not None:
                logger.info("connected to Temporal at %s", settings.address)
            return connected
        except Exception as error:
            logger.warning(
                "cannot reach Temporal at %s (%s); retrying in %.1fs",
                settings.address,
                str(error).splitlines()[0] if str(error) else type(error).__name__,
                delay,
            )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
        delay = min(delay * 2, _CONNECT_BACKOFF_MAX_SECONDS)
    return None


async def _unless_stopped(work: Awaitable[_T], stop: asyncio.Event) -> _T | None:
    task = asyncio.ensure_future(work)
    stopped = asyncio.create_task(stop.wait())
    await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
    stopped.cancel()
    if task.done():
        return task.result()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
    return None


async def _listen(
    settings: WorkerSettings, health: Health, metrics: RuntimeMetrics
) -> list[asyncio.Server]:
    from . import contract
    from .httpserver import serve_http

    servers: list[asyncio.Server] = []
    for variable, port, routes in (
        (contract.ENV_HEALTH_PORT, settings.health_port, health.routes()),
        (contract.ENV_METRICS_PORT, settings.metrics_port, {contract.METRICS_PATH: metrics.scrape}),
    ):
        try:
            servers.append(await serve_http(settings.listen_host, port, routes))
        except OSError as error:
            for server in servers:
                server.close()
            raise StartupError(
                f"cannot listen on {settings.listen_host}:{port} ({variable}): {error.strerror}"
            ) from error
    return servers


def _on_stop_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()

    def on_signal(signum: signal.Signals) -> None:
        if stop.is_set():
            logger.info("%s again: already draining", signum.name)
            return
        logger.info("%s received", signum.name)
        stop.set()

    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, on_signal, signum)
    held = held_stop_signal()  # one that came while the worker was still starting
    if held is not None:
        on_signal(held)


def _core_logging() -> TelemetryConfig:
    """The SDK core's own log lines go through Python logging, so they share our format."""
    from temporalio.runtime import (
        LogForwardingConfig,
        LoggingConfig,
        TelemetryConfig,
        TelemetryFilter,
    )

    return TelemetryConfig(
        logging=LoggingConfig(
            filter=TelemetryFilter(core_level="WARN", other_level="ERROR"),
            forwarding=LogForwardingConfig(logger=logging.getLogger("temporalio.core")),
        )
    )


async def _flush(tracing: Tracing) -> None:
    # Bounded: a collector that is down must not hold the pod past its grace period.
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.to_thread(tracing.shutdown), _TRACE_FLUSH_SECONDS)
