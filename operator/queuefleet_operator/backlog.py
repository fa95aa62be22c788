"""Reading a task queue's backlog from Temporal: DescribeTaskQueue with stats.

One client per (address, namespace, credentials), shared by every queue that uses them;
every call is bounded by a timeout. A queue's backlog is the sum over the selected queue
types — the same number KEDA's temporal scaler scales on.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from .observed import BacklogReading

__all__ = ["BacklogQuery", "BacklogReader", "TLSMaterial", "supersedes"]


@dataclass(frozen=True, kw_only=True)
class TLSMaterial:
    client_cert: bytes | None = None
    client_key: bytes | None = None
    server_ca: bytes | None = None
    server_name: str | None = None


@dataclass(frozen=True, kw_only=True)
class BacklogQuery:
    address: str
    namespace: str
    task_queue: str
    queue_types: tuple[str, ...]
    tls: TLSMaterial | None = None
    api_key: str | None = None

    def client_key(self) -> tuple[str, str, str]:
        """Identifies the connection; secrets enter only as a digest."""
        digest = hashlib.sha256(repr((self.tls, self.api_key)).encode()).hexdigest()
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
            tls: bool | TLSConfig = False
            if query.tls is not None:
                tls = TLSConfig(
                    client_cert=query.tls.client_cert,
                    client_private_key=query.tls.client_key,
                    server_root_ca_cert=query.tls.server_ca,
                    domain=query.tls.server_name,
                )
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
            self._clients[key] = client
            return client

    def forget_all(self) -> None:
        self._clients.clear()


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
