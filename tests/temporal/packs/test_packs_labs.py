"""Lab provisioning: the happy path, signals, queries, timeouts, cancellation, retries, resume."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row
from queuefleet_packs.labs.adapters import HttpLabAdapter, InProcessLabAdapter, LabAdapter
from queuefleet_packs.labs.registrar import LabsRegistrar
from queuefleet_packs.labs.store import SCHEMA, LabLockedError, LabStore
from queuefleet_packs.labs.workflows import (
    CancelRequest,
    LabProvisionWorkflow,
    LabRequest,
    LabResult,
    ReviewDecision,
    lab_workflow_id,
)
from queuefleet_packs.postgres import pack_database_from
from queuefleet_worker.registry import RegistrarContext, RegistryError, assemble
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError, WorkflowHandle
from temporalio.worker import Worker

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


def labs_worker(client: Client, task_queue: str, adapter: LabAdapter, uri: str) -> Worker:
    registrar = LabsRegistrar(task_queue=task_queue, adapter=adapter)
    return pack_worker(client, registrar, environ={"QUEUEFLEET_LABS_DATABASE": uri})


def sql(uri: str, statement: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(uri) as conn:
        cursor = conn.execute(statement, list(params))
        return cursor.fetchall() if cursor.description else []


def lock_holder(uri: str, lab: str) -> str | None:
    rows = sql(uri, "SELECT owner FROM lab_locks WHERE lab_id = %s", lab)
    return rows[0][0] if rows else None


def request_row(uri: str, lab: str) -> dict[str, Any]:
    with psycopg.connect(uri, row_factory=dict_row) as conn:
        row = conn.execute("SELECT * FROM lab_requests WHERE lab_id = %s", [lab]).fetchone()
    assert row is not None, f"no lab_requests row for {lab}"
    return row


async def test_approved_lab_is_provisioned_validated_and_finalized(
    temporal_client: Client, task_queue: str, database_uri: str
) -> None:
    adapter = InProcessLabAdapter(fail_validation_times=2)
    lab = lab_id()
    async with labs_worker(temporal_client, task_queue, adapter, database_uri):
        handle = await start(temporal_client, task_queue, request(lab))
        assert handle.id == f"lab-{lab}"
        await wait_for_phase(handle, "awaiting_review")
        assert await handle.query(LabProvisionWorkflow.percent_complete) == 75
        # the run wrote its ids on the request's row when it started, and asked for review
        description = await handle.describe()
        row = request_row(database_uri, lab)
        assert (row["workflow_id"], row["run_id"], row["requested_by"]) == (
            handle.id, description.run_id, "ana",
        )  # fmt: skip
        assert row["status"] == "awaiting_review"
        assert row["review_requested_at"] is not None
        assert lock_holder(database_uri, lab) == handle.id
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
    row = request_row(database_uri, lab)
    assert (row["status"], row["reviewer"]) == ("completed", "bo")
    assert lock_holder(database_uri, lab) is None
    assert lab not in adapter.torn_down


async def test_provisioning_resumes_from_heartbeat_after_a_retry(
    temporal_client: Client, task_queue: str, database_uri: str
) -> None:
    adapter = InProcessLabAdapter(fail_provision_step={5: 1}, step_seconds=0.05)
    lab = lab_id()
    async with labs_worker(temporal_client, task_queue, adapter, database_uri):
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
    temporal_client: Client, task_queue: str, database_uri: str
) -> None:
    adapter = InProcessLabAdapter()
    lab = lab_id()
    async with labs_worker(temporal_client, task_queue, adapter, database_uri):
        handle = await start(temporal_client, task_queue, request(lab))
        await handle.signal(
            LabProvisionWorkflow.human_review, ReviewDecision(False, "bo", "wrong size")
        )
        result = await handle.result()
    assert (result.outcome, result.detail) == ("rejected", "rejected by bo: wrong size")
    assert result.compensations == ["teardown_environment", "release_lock"]
    assert lab in adapter.torn_down
    assert lock_holder(database_uri, lab) is None
    assert lab not in adapter.finalized


async def test_review_timeout_ends_with_a_clear_reason(
    temporal_client: Client, task_queue: str, database_uri: str
) -> None:
    adapter = InProcessLabAdapter()
    lab = lab_id()
    async with labs_worker(temporal_client, task_queue, adapter, database_uri):
        handle = await start(temporal_client, task_queue, request(lab, review_timeout_seconds=1.0))
        result = await handle.result()
        assert await handle.query(LabProvisionWorkflow.current_phase) == "review_timed_out"
    assert result.outcome == "review_timed_out"
    assert result.detail == "no human review within 0:00:01"
    row = request_row(database_uri, lab)
    assert (row["status"], row["detail"]) == ("review_timed_out", "no human review within 0:00:01")
    assert row["review_requested_at"] is not None
    assert lock_holder(database_uri, lab) is None


async def test_cancel_signal_stops_provisioning_and_compensates(
    temporal_client: Client, task_queue: str, database_uri: str
) -> None:
    adapter = InProcessLabAdapter(step_seconds=0.5)
    lab = lab_id()
    async with labs_worker(temporal_client, task_queue, adapter, database_uri):
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
    assert lock_holder(database_uri, lab) is None
    assert len(adapter.operations("provision_step")) < 16


async def test_workflow_cancellation_also_compensates(
    temporal_client: Client, task_queue: str, database_uri: str
) -> None:
    adapter = InProcessLabAdapter()
    lab = lab_id()
    async with labs_worker(temporal_client, task_queue, adapter, database_uri):
        handle = await start(temporal_client, task_queue, request(lab))
        await wait_for_phase(handle, "awaiting_review")
        await handle.cancel()
        with pytest.raises(WorkflowFailureError):
            await handle.result()
    assert (await handle.describe()).status == WorkflowExecutionStatus.CANCELED
    assert request_row(database_uri, lab)["status"] == "cancelled"
    assert lab in adapter.torn_down
    assert lock_holder(database_uri, lab) is None


async def test_a_locked_lab_fails_without_touching_it(
    temporal_client: Client, task_queue: str, database_uri: str
) -> None:
    lab = lab_id()
    adapter = InProcessLabAdapter()
    sql(
        database_uri,
        "CREATE TABLE lab_locks (lab_id text PRIMARY KEY, owner text NOT NULL, "
        "acquired_at timestamptz NOT NULL DEFAULT now())",
    )
    sql(database_uri, "INSERT INTO lab_locks (lab_id, owner) VALUES (%s, 'someone-else')", lab)
    async with labs_worker(temporal_client, task_queue, adapter, database_uri):
        handle = await start(temporal_client, task_queue, request(lab))
        with pytest.raises(WorkflowFailureError) as caught:
            await handle.result()
    assert f"lab {lab} failed: lab {lab} is locked by someone-else" in str(caught.value.cause)
    assert lock_holder(database_uri, lab) == "someone-else"
    assert request_row(database_uri, lab)["status"] == "failed"
    assert adapter.operations("generate_blueprint") == []


async def test_http_adapter_talks_to_the_lab_service(
    temporal_client: Client, task_queue: str, database_uri: str
) -> None:
    lab = lab_id()
    with local_service() as service:
        service.routes["/labs/"] = lambda r: (
            200,
            {"machines": 1} if r.path.endswith("/blueprint") else {},
        )
        adapter = HttpLabAdapter(base_url=service.base_url)
        async with labs_worker(temporal_client, task_queue, adapter, database_uri):
            handle = await start(temporal_client, task_queue, request(lab))
            await handle.signal(LabProvisionWorkflow.human_review, ReviewDecision(True, "bo"))
            result = await handle.result()
    assert result.outcome == "completed"
    operations = [r.path.rsplit("/", 1)[1] for r in service.requests]
    assert operations == ["blueprint", "provision", "validate", "finalize"]
    assert lock_holder(database_uri, lab) is None


async def test_the_lock_is_idempotent_per_owner_in_the_database(database_uri: str) -> None:
    store = LabStore(pack_database_from({"QUEUEFLEET_LABS_DATABASE": database_uri}, pack="labs",
                                        schema=SCHEMA))  # fmt: skip
    lab = lab_id()
    await store.acquire_lock(lab, "lab-a")
    await store.acquire_lock(lab, "lab-a")  # a retried activity: still ours
    with pytest.raises(LabLockedError, match=f"lab {lab} is locked by lab-a"):
        await store.acquire_lock(lab, "lab-b")
    await store.release_lock(lab, "lab-b")  # not the holder: nothing happens
    assert lock_holder(database_uri, lab) == "lab-a"
    await store.release_lock(lab, "lab-a")
    await store.release_lock(lab, "lab-a")
    assert lock_holder(database_uri, lab) is None
    await store.acquire_lock(lab, "lab-b")
    assert lock_holder(database_uri, lab) == "lab-b"


def test_the_registrar_needs_a_database() -> None:
    context = RegistrarContext(task_queue="labs.provisioning.v1", namespace="default")
    with pytest.raises(
        RegistryError, match="labs pack needs PostgreSQL: set QUEUEFLEET_LABS_DATABASE"
    ):
        assemble([LabsRegistrar()], context)
