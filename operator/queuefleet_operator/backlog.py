"""Reading a task queue's backlog from Temporal: DescribeTaskQueue with stats.

One client per (address, namespace, credentials), shared by every queue that uses them;
every call is bounded by a timeout. A queue's backlog is the sum over the selected queue
types — the same number KEDA's temporal scaler scales on. `BacklogMonitor` does one
queue's read: its credentials from Secrets, the read, the cache entry and the gauges.

Secrets are read only for what `connection.resolve` allows (a TemporalConnection's, or
inline ones the operator was told to accept); a queue it refuses is not read at all. Key
material never enters a repr, a log line or a status message: the dataclasses holding it
leave it out of their repr, and errors name the Secret, never its content.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from .kube import KubeError
from .observed import BacklogReading, TemporalCheck

if TYPE_CHECKING:
    from .cache import Cache, QueueKey
    from .config import OperatorConfig
    from .kube import KubeApi
    from .metrics import OperatorMetrics
    from .reconciler import Blocking
    from .spec import WorkflowQueueSpec

__all__ = [
    "BacklogMonitor",
    "BacklogQuery",
    "BacklogReader",
    "SecretUnreadable",
    "TLSMaterial",
    "TemporalUnreachable",
    "supersedes",
]


# After a failed connect, reads through that connection fail at once with the same error
# for this long: a Temporal that is down costs one connect timeout per connection every
# few seconds, not one per queue (500 queues would otherwise queue up behind each other).
RECONNECT_AFTER_SECONDS = 5.0


class TemporalUnreachable(ConnectionError):
    """Connecting to Temporal failed (now, or moments ago through the same connection)."""


def _error_text(error: BaseException) -> str:
    """An error as a status message shows it (some exceptions carry no text of their own)."""
    return str(error) or type(error).__name__


class SecretUnreadable(RuntimeError):
    """A credentials Secret could not be read; the message names it and what to do."""


def _read_secret(
    kube: KubeApi, connection: str | None, namespace: str, name: str, key: str
) -> bytes:
    """One key of a Secret, or SecretUnreadable saying why (forbidden, missing, unreachable)."""
    via = f"TemporalConnection {connection!r}" if connection else "spec.temporal"
    try:
        return kube.read_secret_value(namespace, name, key)
    except KubeError as error:
        if error.status == 403:
            raise SecretUnreadable(
                f"the operator may not read Secret {namespace}/{name} (named by {via}): "
                f"forbidden; grant it `get` on Secrets in namespace {namespace} (the chart: "
                "operator.secretNamespaces)"
            ) from error
        if error.status == 404:
            raise SecretUnreadable(f"{error} (named by {via})") from error
        raise SecretUnreadable(
            f"cannot read Secret {namespace}/{name} (named by {via}): {error}"
        ) from error


@dataclass(frozen=True, kw_only=True)
class TLSMaterial:
    client_cert: bytes | None = field(default=None, repr=False)
    client_key: bytes | None = field(default=None, repr=False)
    server_ca: bytes | None = field(default=None, repr=False)
    server_name: str | None = None


@dataclass(frozen=True, kw_only=True)
class BacklogQuery:
    address: str
    namespace: str
    task_queue: str
    queue_types: tuple[str, ...]
    tls: TLSMaterial | None = None
    api_key: str | None = field(default=None, repr=False)

    def client_key(self) -> tuple[str, str, str]:
        """Identifies the connection; secrets enter only as a digest."""
        tls = self.tls
        parts = (
            (tls.client_cert, tls.client_key, tls.server_ca, tls.server_name)
            if tls is not None
            else None,
            self.api_key,
        )
        digest = hashlib.sha256(repr(parts).encode()).hexdigest()
        return (self.address, self.namespace, digest)


class BacklogReader:
    def __init__(
        self,
        *,
        timeout_seconds: float,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._timeout = timeout_seconds
        self._clock = clock
        self._clients: dict[tuple[str, str, str], Any] = {}
        self._connecting: dict[tuple[str, str, str], asyncio.Lock] = {}
        # (monotonic time, error text) of the latest failed connect, by connection
        self._failed: dict[tuple[str, str, str], tuple[float, str]] = {}

    async def read(self, query: BacklogQuery) -> BacklogReading:
        """The summed backlog; raises on timeout or RPC failure."""
        from temporalio.api.enums.v1 import TaskQueueKind, TaskQueueType
        from temporalio.api.taskqueue.v1 import TaskQueue
        from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

        types = {
            "workflow": TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
            "activity": TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
            "nexus": TaskQueueType.TASK_QUEUE_TYPE_NEXUS,
        }
        client = await self._client(query)
        count, age, add_rate, dispatch_rate = 0, 0.0, 0.0, 0.0
        try:
            for queue_type in query.queue_types:
                request = DescribeTaskQueueRequest(
                    namespace=query.namespace,
                    task_queue=TaskQueue(
                        name=query.task_queue, kind=TaskQueueKind.TASK_QUEUE_KIND_NORMAL
                    ),
                    task_queue_type=types[queue_type],
                    report_stats=True,
                )
                response = await asyncio.wait_for(
                    client.workflow_service.describe_task_queue(
                        request, timeout=timedelta(seconds=self._timeout)
                    ),
                    timeout=self._timeout + 1,
                )
                if response.HasField("stats"):
                    stats = response.stats
                    count += stats.approximate_backlog_count
                    age = max(age, stats.approximate_backlog_age.ToTimedelta().total_seconds())
                    add_rate += stats.tasks_add_rate
                    dispatch_rate += stats.tasks_dispatch_rate
        except BaseException:
            # A broken connection is rebuilt next time instead of failing forever.
            self._clients.pop(query.client_key(), None)
            raise
        return BacklogReading(
            approximate_count=count,
            approximate_age_seconds=age,
            add_rate=add_rate,
            dispatch_rate=dispatch_rate,
            observed_at=self._clock(),
        )

    async def _client(self, query: BacklogQuery) -> Any:
        from temporalio.client import Client
        from temporalio.service import TLSConfig

        key = query.client_key()
        lock = self._connecting.setdefault(key, asyncio.Lock())
        async with lock:  # queues sharing a connection wait for one connect, not one each
            client = self._clients.get(key)
            if client is not None:
                return client
            failed = self._failed.get(key)
            if failed is not None and time.monotonic() - failed[0] < RECONNECT_AFTER_SECONDS:
                raise TemporalUnreachable(failed[1])
            tls: bool | TLSConfig = False
            if query.tls is not None:
                tls = TLSConfig(
                    client_cert=query.tls.client_cert,
                    client_private_key=query.tls.client_key,
                    server_root_ca_cert=query.tls.server_ca,
                    domain=query.tls.server_name,
                )
            try:
                client = await asyncio.wait_for(
                    Client.connect(
                        query.address,
                        namespace=query.namespace,
                        tls=tls,
                        api_key=query.api_key,
                        connect_timeout=timedelta(seconds=self._timeout),
                        identity="queuefleet-operator",
                    ),
                    timeout=self._timeout + 1,
                )
            except Exception as error:
                # The same text each time, so the status does not change with every read.
                detail = _error_text(error)
                self._failed[key] = (time.monotonic(), detail)
                raise TemporalUnreachable(detail) from error
            self._failed.pop(key, None)
            self._clients[key] = client
            return client

    def forget_all(self) -> None:
        self._clients.clear()
        self._failed.clear()


def supersedes(new: BacklogReading, old: BacklogReading | None, *, max_age: timedelta) -> bool:
    """Whether to publish `new` over `old`: numbers moved, or `old` is getting stale.

    Publishing an identical reading only to refresh its timestamp would cost a status
    write per queue per interval; a quiet queue refreshes at most every `max_age`.
    """
    if old is None:
        return True
    same = (
        new.approximate_count == old.approximate_count
        and round(new.approximate_age_seconds) == round(old.approximate_age_seconds)
        and round(new.add_rate, 2) == round(old.add_rate, 2)
        and round(new.dispatch_rate, 2) == round(old.dispatch_rate, 2)
    )
    return not same or new.observed_at - old.observed_at >= max_age


class BacklogMonitor:
    """Reads one queue's backlog into the cache and the gauges; never raises."""

    def __init__(
        self,
        *,
        config: OperatorConfig,
        kube: KubeApi,
        cache: Cache,
        reader: BacklogReader,
        metrics: OperatorMetrics,
        blocking: Blocking,
        clock: Callable[[], datetime],
    ) -> None:
        self._config = config
        self._kube = kube
        self._cache = cache
        self._reader = reader
        self._metrics = metrics
        self._blocking = blocking
        self._clock = clock

    async def refresh(self, key: QueueKey) -> None:
        from .connection import Refusal, resolve
        from .spec import SpecError, parse_spec

        state = self._cache.queue(key)
        if state is None:
            return  # deleted meanwhile
        try:
            parsed = parse_spec(state.body.get("spec") or {})
        except SpecError:
            return  # the reconcile pass reports the spec problem
        spec = resolve(key[0], parsed, self._cache.connection, self._config)
        if isinstance(spec, Refusal):
            return  # the reconcile pass says why; nothing is read or dialled for it
        now = self._clock()
        try:
            query = await self._query(key[0], spec)
        except SecretUnreadable as error:
            self._metrics.errors.labels(operation="secret").inc()
            state.temporal = TemporalCheck(
                reachable=False, checked_at=now, error=str(error), secret_problem=True
            )
            return
        if query is None:
            return
        try:
            reading = await self._reader.read(query)
        except Exception as error:  # any failure means "unreachable"; reconciliation goes on
            self._metrics.errors.labels(operation="backlog").inc()
            self._metrics.backlog_reads.labels(result="error").inc()
            detail = _error_text(error)
            state.temporal = TemporalCheck(
                reachable=False,
                checked_at=now,
                error=f"DescribeTaskQueue {query.task_queue!r} at {query.address} failed: {detail}",
            )
            return
        if self._cache.queue(key) is not state:
            return  # deleted while reading: its gauges are gone and must stay gone
        self._metrics.backlog_reads.labels(result="ok").inc()
        state.temporal = TemporalCheck(reachable=True, checked_at=now, reading=reading)
        max_age = timedelta(seconds=self._config.sync_interval_seconds * 10)
        if supersedes(reading, state.last_reading, max_age=max_age):
            state.last_reading = reading
        self._metrics.export_backlog(
            key[0],
            key[1],
            spec.task_queue,
            count=reading.approximate_count,
            age_seconds=reading.approximate_age_seconds,
            previous_task_queue=state.exported_task_queue,
        )
        state.exported_task_queue = spec.task_queue

    async def _query(self, namespace: str, spec: WorkflowQueueSpec) -> BacklogQuery | None:
        address = spec.temporal.address or self._config.temporal_address
        if not address:
            return None
        read = functools.partial(_read_secret, self._kube, spec.temporal.connection_ref)
        tls: TLSMaterial | None = None
        temporal = spec.temporal
        if temporal.tls is not None and temporal.tls.enabled:
            cert = key = ca = None
            if temporal.tls.secret_name is not None:
                name = temporal.tls.secret_name
                cert = await self._blocking(read, namespace, name, "tls.crt")
                key = await self._blocking(read, namespace, name, "tls.key")
                if temporal.tls.ca_key is not None:
                    ca = await self._blocking(read, namespace, name, temporal.tls.ca_key)
            tls = TLSMaterial(
                client_cert=cert, client_key=key, server_ca=ca, server_name=temporal.tls.server_name
            )
        if tls is None and temporal.tls_enabled:
            tls = TLSMaterial()  # an API key implies TLS, with the system's trust roots
        api_key = None
        if temporal.api_key_secret is not None:
            secret = temporal.api_key_secret
            raw = await self._blocking(read, namespace, secret.name, secret.key)
            api_key = raw.decode().strip()
        return BacklogQuery(
            address=address,
            namespace=temporal.namespace or self._config.temporal_namespace,
            task_queue=spec.task_queue,
            queue_types=spec.scaling.queue_types,
            tls=tls,
            api_key=api_key,
        )
