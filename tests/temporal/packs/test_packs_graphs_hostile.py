"""The hostile corpus against a real `queuefleet worker` process and the real dev server.

Every case must end within 10 s as the corpus says (InvalidGraph or NodeFailed, with its
message) while the worker's RSS stays under 300 MiB and /healthz keeps answering; then
the worker drains on SIGTERM and exits 0.
"""

from __future__ import annotations

import asyncio
import json
import signal
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from queuefleet_packs.graphs.workflows import GraphRunInput, GraphWorkflow
from temporalio.api.common.v1 import Payload
from temporalio.client import Client, WorkflowFailureError
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError

from testbed.temporal import TemporalEndpoint
from tests.fixtures.hostile_graphs import CASES, HostileCase
from tests.temporal.packs.helpers import local_service
from tests.temporal.worker.workerproc import start_worker

CASE_SECONDS = 10.0
RSS_LIMIT_KIB = 300 * 1024
HUGE_BODY = b"h" * (9 * 1024 * 1024)  # over the worker's 8 MiB response cap


def memory_kib(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0])
    return fields


class Probe:
    """Polls /healthz and VmRSS in a thread for as long as the cases run."""

    def __init__(self, health_url: str, pid: int) -> None:
        self.health_url, self.pid = health_url, pid
        self.failures: list[str] = []
        self.samples = 0
        self.max_rss_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> Probe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        import urllib.request

        while not self._stop.is_set():
            started = time.monotonic()
            try:
                with urllib.request.urlopen(self.health_url, timeout=2) as response:
                    if response.status != 200:
                        self.failures.append(f"/healthz answered {response.status}")
            except OSError as error:
                self.failures.append(f"/healthz did not answer: {error}")
            self.max_rss_kib = max(self.max_rss_kib, memory_kib(self.pid).get("VmRSS", 0))
            self.samples += 1
            self._stop.wait(max(0.0, 0.25 - (time.monotonic() - started)))


def to_json(value: Any) -> str:
    """JSON text without recursion: some cases nest deeper than json.dumps (and the
    client's data converter) can go, as a hostile client's hand-written JSON could."""
    out: list[str] = []
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, _Raw):
            out.append(item.text)
        elif isinstance(item, dict):
            parts: list[Any] = [_Raw("}")]
            for index, (key, child) in enumerate(reversed(list(item.items()))):
                parts.append(child)
                parts.append(_Raw(json.dumps(str(key)) + ":"))
                if index < len(item) - 1:
                    parts.append(_Raw(","))
            stack.extend(parts)
            out.append("{")
        elif isinstance(item, list | tuple):
            parts = [_Raw("]")]
            for index, child in enumerate(reversed(item)):
                parts.append(child)
                if index < len(item) - 1:
                    parts.append(_Raw(","))
            stack.extend(parts)
            out.append("[")
        else:
            out.append(json.dumps(item))
    return "".join(out)


@dataclass(frozen=True)
class _Raw:
    text: str


def raw_input(
    graph: dict[str, Any], graph_input: dict[str, Any], fields: dict[str, Any]
) -> RawValue:
    text = to_json({"graph": graph, "input": graph_input, **fields})
    return RawValue(Payload(metadata={"encoding": b"json/plain"}, data=text.encode()))


WAITING_GRAPH = {
    "nodes": [{"name": "gate", "type": "approval", "timeout_seconds": 600}],
    "edges": [{"type": "start", "to": "gate"}],
}


async def wait_until_running(handle: Any, node: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while (await handle.query(GraphWorkflow.status)).get(node) != "running":
        assert time.monotonic() < deadline, f"{node} never started"
        await asyncio.sleep(0.1)


async def run_case(
    client: Client, task_queue: str, case: HostileCase, base_url: str
) -> tuple[str, float, str]:
    graph = json.loads(json.dumps(case.graph).replace("{service}", base_url)) if (
        "{service}" in str(case.graph["nodes"][0].get("url", ""))
    ) else case.graph  # fmt: skip
    graph_input = case.input
    started = time.monotonic()
    try:
        await asyncio.wait_for(
            client.execute_workflow(
                GraphWorkflow.run,
                raw_input(graph, graph_input, case.run_fields),
                id=f"hostile-{case.id}-{uuid.uuid4()}",
                task_queue=task_queue,
                execution_timeout=timedelta(seconds=60),
            ),
            timeout=CASE_SECONDS,
        )
    except WorkflowFailureError as error:
        cause = error.cause
        kind = cause.type if isinstance(cause, ApplicationError) else type(cause).__name__
        return str(kind), time.monotonic() - started, str(cause)
    except TimeoutError:
        return "timeout", time.monotonic() - started, ""
    return "completed", time.monotonic() - started, ""


async def test_hostile_graphs_end_in_bounded_time_and_memory_on_a_real_worker(
    temporal: TemporalEndpoint, temporal_client: Client, task_queue: str, artifacts: Path
) -> None:
    with local_service() as service:
        service.routes["/huge"] = lambda r: (200, HUGE_BODY)
        worker = start_worker(
            name="hostile",
            task_queue=task_queue,
            address=temporal.address,
            artifacts=artifacts,
            registrar="tests.temporal.packs.hostile_registrar:registrar",
            env={
                "QUEUEFLEET_GRAPHS_HTTP_ALLOW": f"127.0.0.1:{service.port},169.254.169.254",
                "QUEUEFLEET_GRAPHS_CHILD_WORKFLOWS": "GraphWorkflow",
                "QUEUEFLEET_GRAPHS_SECRET_HOOKS": "k3y",
                "QUEUEFLEET_GRAPHS_SECRET_HOOKS_HOSTS": f"127.0.0.1:{service.port}",
            },
        )
        try:
            await worker.wait_ready(timeout=60)
            outcomes: dict[str, tuple[str, float, str]] = {}
            with Probe(worker.url("/healthz"), worker.pid) as probe:
                # a few at a time: the worker keeps up with the rest of the fleet's load too
                for start in range(0, len(CASES), 4):
                    batch = CASES[start : start + 4]
                    results = await asyncio.gather(
                        *(run_case(temporal_client, task_queue, c, service.base_url) for c in batch)
                    )
                    outcomes.update({c.id: r for c, r in zip(batch, results, strict=True)})
                # SIGTERM while hostile runs are in flight and a graph waits on the worker
                in_flight = [
                    asyncio.ensure_future(
                        run_case(temporal_client, task_queue, case, service.base_url)
                    )
                    for case in CASES
                    if case.category in ("c-call", "fan-out")
                ]
                waiting = await temporal_client.start_workflow(
                    GraphWorkflow.run,
                    GraphRunInput(graph=WAITING_GRAPH),
                    id=f"hostile-waiting-{uuid.uuid4()}",
                    task_queue=task_queue,
                )
                await wait_until_running(waiting, "gate")
                memory = memory_kib(worker.pid)
            worker.signal(signal.SIGTERM)
            health_while_draining = await asyncio.to_thread(worker.status, "/healthz")
            exit_code = await worker.wait_exit(timeout=30)
            for task in in_flight:
                task.cancel()
            await asyncio.gather(*in_flight, return_exceptions=True)
            await waiting.terminate("test done")
        finally:
            worker.process.stop()

    report = {
        case_id: {"outcome": kind, "seconds": round(seconds, 2), "message": message[:300]}
        for case_id, (kind, seconds, message) in outcomes.items()
    }
    (artifacts / "hostile-graphs.json").write_text(
        json.dumps(
            {
                "cases": report,
                "memory_kib": memory,
                "probe_max_rss_kib": probe.max_rss_kib,
                "health_samples": probe.samples,
            },
            indent=2,
        )
    )
    wrong = []
    for case in CASES:
        kind, seconds, message = outcomes[case.id]
        expected = "InvalidGraph" if case.expect == "rejected" else "NodeFailed"
        expected_message = case.message
        if case.worker_failure is not None:
            expected, expected_message = case.worker_failure
        if kind != expected or expected_message not in message or seconds > CASE_SECONDS:
            wrong.append(f"{case.id}: {kind} after {seconds:.1f}s: {message[:200]}")
    assert not wrong, "\n".join(wrong)
    assert not probe.failures, probe.failures[:5]
    assert probe.samples >= 5
    assert probe.max_rss_kib < RSS_LIMIT_KIB, memory
    assert memory["VmHWM"] < RSS_LIMIT_KIB, memory
    assert health_while_draining == 200
    assert exit_code == 0  # drained on SIGTERM
    assert sum(1 for c in CASES if c.expect == "rejected") >= 10
    assert sum(1 for c in CASES if c.expect == "failed") >= 10
    assert not [
        line for line in worker.log_lines() if "Traceback" in line and "Failed activation" in line
    ]
