"""The operator's running parts, wired together: cache, work queue, reconciler, backlog.

kopf's watch events enter here (`queue_seen`, `child_seen`, `crd_seen`, `queue_gone`): the
cache records them and says whether a pass is due; the work queue holds the due passes;
`--workers` workers take them and run `Reconciler.reconcile`; one operator-wide loop reads
every queue's backlog each sync interval and queues a pass when that changed the status.

Only the active replica works. `pause` (another replica became active) stops the workers,
the resync loop and every write at once; `resume` re-queues every queue, since the other
replica may have changed things meanwhile. Nothing is lost while paused.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable, Coroutine, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, TypeVar

from .backlog import BacklogMonitor, BacklogReader
from .cache import Cache, QueueKey, key_of
from .config import OperatorConfig
from .kube import KubeApi, KubeError
from .metrics import OperatorMetrics
from .plantypes import Plan
from .reconciler import ApplyFailedError, EventSink, NotActiveError, Reconciler
from .workqueue import WorkQueue

__all__ = ["QueueKey", "Runtime"]

log = logging.getLogger("queuefleet.operator")
_T = TypeVar("_T")
# A pass that failed is tried again this much later (the status already says why).
_RETRY_SECONDS = 15.0
# Backlog reads in flight at once during a resync (each bounded by the Temporal timeout).
_CONCURRENT_BACKLOG_READS = 16
# A resync queues a pass when the backlog reading changed what the status shows, and
# otherwise only when the queue had no pass for this many sync intervals and its cached
# inputs changed since the last one (a watch that re-listed): watch events already
# report drift, so the periodic pass is a safety net, not the main path.
FULL_RESYNC_INTERVALS = 5
# A new queue's first pass, its children applied, waits this long at most for its first
# backlog read (started beside the applies), so that its first status already says
# whether Temporal answers (one status write, not two).
_FIRST_READ_WAIT_SECONDS = 2.0


class Runtime:
    def __init__(
        self,
        *,
        config: OperatorConfig,
        kube: KubeApi,
        backlog: BacklogReader,
        metrics: OperatorMetrics | None = None,
        post_event: EventSink | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        active: bool = True,
    ) -> None:
        """`active` False: start paused, until peering says this replica is the active one."""
        self.config = config
        self.kube = kube
        self.cache = Cache()
        self.workqueue: WorkQueue[QueueKey] = WorkQueue()
        self.metrics = metrics or OperatorMetrics(statuses=self.cache.statuses)
        self._reader = backlog
        self._active = asyncio.Event()
        if active:
            self._active.set()
        self.metrics.active.set(1 if active else 0)
        self._executor = ThreadPoolExecutor(
            max_workers=config.workers, thread_name_prefix="queuefleet-kube"
        )
        self.reconciler = Reconciler(
            config=config,
            kube=kube,
            cache=self.cache,
            metrics=self.metrics,
            blocking=self._blocking,
            is_active=self._active.is_set,
            post_event=post_event,
            first_read=self._wait_for_first_read,
            clock=clock,
        )
        self.backlog = BacklogMonitor(
            config=config,
            kube=kube,
            cache=self.cache,
            reader=backlog,
            metrics=self.metrics,
            blocking=self._blocking,
            clock=clock,
        )
        self._tasks: set[asyncio.Task[Any]] = set()
        self._reads: asyncio.Semaphore | None = None  # bounds backlog reads in flight
        self._reading: set[QueueKey] = set()  # queues whose backlog is being read
        self._first_reads: dict[QueueKey, asyncio.Task[bool]] = {}  # new queues' first reads
        self._started = False
        if not active:
            self.workqueue.pause()

    # ---- watch events -------------------------------------------------------------------

    def queue_seen(self, body: Mapping[str, Any]) -> None:
        key = key_of(body)
        new = self.cache.queue(key) is None
        trigger = self.cache.queue_seen(body)
        if new and self._started:
            # Read the backlog now rather than at the next round of the resync loop, and
            # let the first pass wait for it (briefly).
            self._spawn(self._first_pass(key, trigger), name="first backlog read")
        elif trigger is not None:
            self.workqueue.add(key, trigger=trigger)

    def queue_gone(self, body: Mapping[str, Any]) -> None:
        key = key_of(body)
        state = self.cache.queue_gone(body)
        self.workqueue.forget(key)
        task_queues = {str((body.get("spec") or {}).get("taskQueue", ""))}
        if state is not None and state.exported_task_queue is not None:
            task_queues.add(state.exported_task_queue)
        for task_queue in task_queues:
            self.metrics.forget_queue(key[0], key[1], task_queue)

    def child_seen(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        """A child changed: its queue gets a pass after the debounce (a rollout's burst of
        events shares one), which repairs drift and refreshes the status."""
        key = self.cache.child_seen(event_type, body)
        if key is not None:
            trigger = "child-deleted" if event_type == "DELETED" else "child"
            self._after_debounce(key, trigger)

    def pod_seen(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        """A worker pod started or stopped failing: its queue's status says why."""
        key = self.cache.pod_seen(event_type, body)
        if key is not None:
            self._after_debounce(key, "pod")

    def _after_debounce(self, key: QueueKey, trigger: str) -> None:
        # The echo of our own apply often arrives during the pass that made it; when the
        # burst ends with everything as that pass left it, no second pass is needed.
        self.workqueue.add_after(
            key,
            trigger=trigger,
            delay=self.config.debounce_seconds,
            unless=functools.partial(self.cache.unchanged_since_pass, key),
        )

    def connection_seen(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        """A TemporalConnection came, changed or left: every queue using it gets a pass and
        a fresh backlog read (with the new address or credentials)."""
        for key in self.cache.connection_seen(event_type, body):
            self.workqueue.add(key, trigger="connection")
            if self._started:
                self._spawn(self._resync(key), name="backlog read after a connection change")

    def crd_seen(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        if not self.cache.crd_seen(event_type, body):
            return
        log.info("CRD %s changed; reconciling every queue", body.get("metadata", {}).get("name"))
        for key in self.cache.queue_keys():
            self.workqueue.add(key, trigger="crd")

    def prime(self) -> None:
        """Blocking: learn the optional CRDs and the existing children (see Cache.prime)."""
        self.cache.prime(self.kube, self.config.namespaces)

    def statuses(self) -> Iterator[Mapping[str, Any]]:
        return self.cache.statuses()

    def pending(self) -> dict[QueueKey, str]:
        """Queues waiting for a pass, with what asked for it."""
        return self.workqueue.pending()

    # ---- active or paused ---------------------------------------------------------------

    @property
    def active(self) -> bool:
        return self._active.is_set()

    def pause(self) -> None:
        """Stop handing out passes, reading backlogs and writing, at once."""
        if not self._active.is_set():
            return
        log.info("pausing: another operator replica is active")
        self._active.clear()
        self.workqueue.pause()
        self.metrics.active.set(0)

    def resume(self) -> None:
        if self._active.is_set():
            return
        log.info("resuming: this replica is active")
        self._active.set()
        self.workqueue.resume()
        self.metrics.active.set(1)
        for key in self.cache.queue_keys():
            self.workqueue.add(key, trigger="resume")

    # ---- workers and the resync loop ----------------------------------------------------

    def start(self) -> None:
        """Start the workers and the resync loop on the running event loop (once)."""
        if self._started:
            return
        self._started = True
        self._reads = asyncio.Semaphore(_CONCURRENT_BACKLOG_READS)
        for index in range(self.config.workers):
            self._spawn(self._worker(), name=f"reconcile worker {index}")
        self._spawn(self._resync_forever(), name="resync")
        for key in self.cache.queue_keys():  # seen before the loops existed: read their backlog
            self._spawn(self._resync(key), name="first backlog read")

    async def _first_pass(self, key: QueueKey, trigger: str | None) -> None:
        """Queue a new queue's first pass and read its backlog at once: the pass applies
        the children meanwhile and reports the read with them (`_wait_for_first_read`). A
        read that came too late for that queues a pass of its own, unless one saw it
        (other news, a child that changed meanwhile, gets the child debounce's pass)."""
        read = self._spawn(self._read_backlog(key), name="first backlog read")
        self._first_reads[key] = read
        if trigger is not None:
            self.workqueue.add(key, trigger=trigger)
        try:
            changed = await read
        finally:
            self._first_reads.pop(key, None)
        if changed:
            seen = functools.partial(self.cache.temporal_seen_by_pass, key)
            self.workqueue.add_unless(key, trigger="timer", unless=seen)

    async def _wait_for_first_read(self, key: QueueKey) -> None:
        read = self._first_reads.get(key)
        if read is not None:
            await asyncio.wait({read}, timeout=_FIRST_READ_WAIT_SECONDS)

    def run_in_background(self, coroutine: Any, *, name: str) -> None:
        """Run `coroutine` until the runtime closes (e.g. the peering monitor)."""
        self._spawn(coroutine, name=name)

    def _spawn(self, coroutine: Coroutine[Any, Any, _T], *, name: str) -> asyncio.Task[_T]:
        task = asyncio.get_running_loop().create_task(coroutine, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def reconcile(self, key: QueueKey, *, trigger: str) -> Plan | None:
        """One pass over `key` now (what a worker runs)."""
        return await self.reconciler.reconcile(key, trigger=trigger)

    async def _worker(self) -> None:
        while True:
            item = await self.workqueue.get()
            key = item.key
            try:
                if self.cache.queue(key) is None:
                    continue  # deleted while waiting
                self.metrics.queue_wait_seconds.observe(item.waited_seconds)
                await self.reconciler.reconcile(key, trigger=item.trigger)
            except NotActiveError:
                self.workqueue.add(key, trigger="resume")  # handed out again on resume
            except (ApplyFailedError, KubeError) as error:
                self._retry(key, error)
            except Exception:
                log.exception("reconcile of %s/%s after a %s event failed", *key, item.trigger)
                self.workqueue.add_after(key, trigger="retry", delay=_RETRY_SECONDS)
            finally:
                self.workqueue.done(key)

    def _retry(self, key: QueueKey, error: Exception) -> None:
        if isinstance(error, KubeError) and error.status == 409:
            # The queue changed since we looked (a newer event is on its way): soon.
            self.workqueue.add_after(key, trigger="conflict", delay=self.config.debounce_seconds)
            return
        log.warning("reconcile of %s/%s failed; retrying: %s", *key, error)
        self.workqueue.add_after(key, trigger="retry", delay=_RETRY_SECONDS)

    async def _resync_forever(self) -> None:
        """Each sync interval: read every queue's backlog; queue a pass when that changed
        the status, or when the queue's last pass is `FULL_RESYNC_INTERVALS` old.

        The reads are spread evenly over the interval (what jitter is for), so Temporal and
        the API server see a steady trickle rather than a burst per interval.
        Level-triggered: drift no event reported is repaired by the periodic full pass.
        """
        interval = self.config.sync_interval_seconds
        loop = asyncio.get_running_loop()
        await asyncio.sleep(min(interval, 5.0))
        while True:
            await self._active.wait()
            started = loop.time()
            keys = self.cache.queue_keys()
            spacing = interval / max(len(keys), 1)
            for key in keys:
                await self._active.wait()
                if self.cache.queue(key) is not None:
                    self._spawn(self._resync(key), name="resync queue")
                await asyncio.sleep(spacing)
            await asyncio.sleep(max(0.0, started + interval - loop.time()))

    async def _resync(self, key: QueueKey) -> None:
        if await self._read_backlog(key):
            self.workqueue.add(key, trigger="timer")

    async def _read_backlog(self, key: QueueKey) -> bool:
        """Read one queue's backlog; whether a pass is due: the reading changed what the
        status shows, or the periodic pass is due and would see something new.

        One read per queue at a time: when Temporal answers slowly, rounds of the resync
        loop skip the queues still being read instead of piling up behind them.
        """
        assert self._reads is not None
        if key in self._reading:
            return False
        self._reading.add(key)
        try:
            async with self._reads:
                state = self.cache.queue(key)
                if state is None or not self._active.is_set():
                    return False
                shown = state.temporal_view()
                await self.backlog.refresh(key)
        finally:
            self._reading.discard(key)
        if state.temporal_view() != shown:
            return True
        full_every = self.config.sync_interval_seconds * FULL_RESYNC_INTERVALS
        due = time.monotonic() - state.reconciled_at >= full_every
        return due and not self.cache.unchanged_since_pass(key)

    async def _blocking(self, function: Callable[..., _T], /, *args: Any, **kwargs: Any) -> _T:
        """Run a blocking API call on the operator's own threads (one per worker)."""
        loop = asyncio.get_running_loop()
        call = functools.partial(function, *args, **kwargs)
        return await loop.run_in_executor(self._executor, call)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        self._reader.forget_all()
        await self._blocking(self.kube.close)
        self._executor.shutdown(wait=False, cancel_futures=True)
