"""Lab provisioning: the happy path, signals, queries, timeouts, cancellation, retries, resume."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from queuefleet_packs.labs.adapters import HttpLabAdapter, InProcessLabAdapter
from queuefleet_packs.labs.registrar import LabsRegistrar
from queuefleet_packs.labs.workflows import (
    CancelRequest,
    LabProvisionWorkflow,
    LabRequest,
    LabResult,
    ReviewDecision,
    lab_workflow_id,
)
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError, WorkflowHandle

from tests.temporal.packs.helpers import local_service, pack_worker


def request(lab_id: str, **overrides: Any) -> LabRequest:
    fields: dict[str, Any] = {
        "severity": "low",
        "ttl_hours": 4,
        "review_timeout_seconds": 30.0,
        "provision_heartbeat_seconds": 2.0,
        "validation_retry_seconds": 0.2,
    }
    return LabRequest(lab_id=lab_id, requested_by="ana", **{**fields, **overrides})


async def start(client: Client, task_queue: str, lab: LabRequest) -> WorkflowHandle[Any, LabResult]:
    return await client.start_workflow(
        LabProvisionWorkflow.run, lab, id=lab_workflow_id(lab.lab_id), task_queue=task_queue
    )


async def wait_for_phase(handle: WorkflowHandle[Any, Any], phase: str) -> None:
    for _ in range(300):
        if await handle.query(LabProvisionWorkflow.current_phase) == phase:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never reached phase {phase}")


def lab_id() -> str:
    return uuid.uuid4().hex[:8]


async def test_approved_lab_is_provisioned_validated_and_finalized(
    temporal_client: Client, task_queue: str
) -> None:
    adapter = InProcessLabAdapter(fail_validation_times=2)
    lab = lab_id()
    async with pack_worker(temporal_client, LabsRegistrar(task_queue=task_queue, adapter=adapter)):
        handle = await start(temporal_client, task_queue, request(lab))
        assert handle.id == f"lab-{lab}"
        await wait_for_phase(handle, "awaiting_review")
        assert await handle.query(LabProvisionWorkflow.percent_complete) == 75
        await handle.signal(
            LabProvisionWorkflow.human_review, ReviewDecision(approved=True, reviewer="bo")
        )
        result = await handle.result()
        assert await handle.query(LabProvisionWorkflow.percent_complete) == 100
    assert result.outcome == "completed"
    assert result.lab is not None
    assert result.lab["url"].endswith(lab)
    assert adapter.operations("validate") == [
        None,
        None,
        None,
    ]  # two failures, then the declared retry passes
    assert adapter.provisioned_steps[lab] == {0, 1}
    assert lab in adapter.finalized
    assert result.compensations == ["release_lock"]  # the lock is returned, the lab stays
    assert lab not in adapter.locks
    assert lab not in adapter.torn_down


async def test_provisioning_resumes_from_heartbeat_after_a_retry(
    temporal_client: Client, task_queue: str
) -> None:
    adapter = InProcessLabAdapter(fail_provision_step={5: 1}, step_seconds=0.05)
    lab = lab_id()
    async with pack_worker(temporal_client, LabsRegistrar(task_queue=task_queue, adapter=adapter)):
        handle = await start(
            temporal_client, task_queue, request(lab, severity="high")
        )  # 8 machines
        await wait_for_phase(handle, "awaiting_review")
        await handle.signal(
            LabProvisionWorkflow.human_review, ReviewDecision(approved=True, reviewer="bo")
        )
        await handle.result()
    steps = adapter.operations("provision_step")
    assert steps.count(5) == 2  # the failed step ran again
    assert (
        steps.count(0) == 1
    )  # earlier steps were not repeated: the retry resumed from the heartbeat
    assert adapter.provisioned_steps[lab] == set(range(8))


async def test_rejected_review_tears_down_and_releases(
    temporal_client: Client, task_queue: str
) -> None:
    adapter = InProcessLabAdapter()
    lab = lab_id()
    async with pack_worker(temporal_client, LabsRegistrar(task_queue=task_queue, adapter=adapter)):
        handle = await start(temporal_client, task_queue, request(lab))
        await handle.signal(
            LabProvisionWorkflow.human_review, ReviewDecision(False, "bo", "wrong size")
        )
        result = await handle.result()
    assert (result.outcome, result.detail) == ("rejected", "rejected by bo: wrong size")
    assert result.compensations == ["teardown_environment", "release_lock"]
    assert lab in adapter.torn_down
    assert lab not in adapter.locks
    assert lab not in adapter.finalized


async def test_review_timeout_ends_with_a_clear_reason(
    temporal_client: Client, task_queue: str
) -> None:
    adapter = InProcessLabAdapter()
    async with pack_worker(temporal_client, LabsRegistrar(task_queue=task_queue, adapter=adapter)):
        handle = await start(
            temporal_client, task_queue, request(lab_id(), review_timeout_seconds=1.0)
        )
        result = await handle.result()
        assert await handle.query(LabProvisionWorkflow.current_phase) == "review_timed_out"
    assert result.outcome == "review_timed_out"
    assert result.detail == "no human review within 0:00:01"
    assert adapter.locks == {}


async def test_cancel_signal_stops_provisioning_and_compensates(
    temporal_client: Client, task_queue: str
) -> None:
    adapter = InProcessLabAdapter(step_seconds=0.5)
    lab = lab_id()
    async with pack_worker(temporal_client, LabsRegistrar(task_queue=task_queue, adapter=adapter)):
        handle = await start(
            temporal_client, task_queue, request(lab, severity="critical")
        )  # 16 slow steps
        await wait_for_phase(handle, "provisioning")
        await handle.signal(
            LabProvisionWorkflow.cancel_lab, CancelRequest(reason="not needed", by="ana")
        )
        result = await handle.result()
    assert (result.outcome, result.detail) == ("cancelled", "cancelled by ana: not needed")
    assert result.compensations == ["teardown_environment", "release_lock"]
    assert lab in adapter.torn_down
    assert adapter.locks == {}
    assert len(adapter.operations("provision_step")) < 16


async def test_workflow_cancellation_also_compensates(
    temporal_client: Client, task_queue: str
) -> None:
    adapter = InProcessLabAdapter()
    lab = lab_id()
    async with pack_worker(temporal_client, LabsRegistrar(task_queue=task_queue, adapter=adapter)):
        handle = await start(temporal_client, task_queue, request(lab))
        await wait_for_phase(handle, "awaiting_review")
        await handle.cancel()
        with pytest.raises(WorkflowFailureError):
            await handle.result()
    assert (await handle.describe()).status == WorkflowExecutionStatus.CANCELED
    assert lab in adapter.torn_down
    assert adapter.locks == {}


async def test_a_locked_lab_fails_without_touching_it(
    temporal_client: Client, task_queue: str
) -> None:
    lab = lab_id()
    adapter = InProcessLabAdapter(locks={lab: "someone-else"})
    async with pack_worker(temporal_client, LabsRegistrar(task_queue=task_queue, adapter=adapter)):
        handle = await start(temporal_client, task_queue, request(lab))
        with pytest.raises(WorkflowFailureError) as caught:
            await handle.result()
    assert f"lab {lab} failed: lab {lab} is locked by someone-else" in str(caught.value.cause)
    assert adapter.locks == {lab: "someone-else"}
    assert adapter.operations("generate_blueprint") == []


async def test_http_adapter_talks_to_the_lab_service(
    temporal_client: Client, task_queue: str
) -> None:
    lab = lab_id()
    with local_service() as service:
        service.routes["/labs/"] = lambda r: (
            200,
            {"machines": 1} if r.path.endswith("/blueprint") else {},
        )
        adapter = HttpLabAdapter(base_url=service.base_url)
        async with pack_worker(
            temporal_client, LabsRegistrar(task_queue=task_queue, adapter=adapter)
        ):
            handle = await start(temporal_client, task_queue, request(lab))
            await handle.signal(LabProvisionWorkflow.human_review, ReviewDecision(True, "bo"))
            result = await handle.result()
    assert result.outcome == "completed"
    operations = [r.path.rsplit("/", 1)[1] for r in service.requests]
    assert operations == ["lock", "blueprint", "provision", "validate", "finalize", "unlock"]
