"""Lab requests and lab locks in the labs pack's PostgreSQL.

The request row gets the workflow id and run id when the run starts (the seed's
ConfirmRequest step), then each phase and the final outcome. The lock is one row per lab:
taking it again with the same owner (a retried or replayed activity) succeeds, any other
owner is refused, and releasing is a no-op unless the owner holds it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from ..postgres import PackDatabase

__all__ = ["SCHEMA", "LabLockedError", "LabStore", "RequestRow"]

SCHEMA: Final = (
    """CREATE TABLE IF NOT EXISTS lab_requests (
        lab_id              text PRIMARY KEY,
        requested_by        text NOT NULL,
        severity            text NOT NULL,
        ttl_hours           integer NOT NULL,
        workflow_id         text NOT NULL,
        run_id              text NOT NULL,
        status              text NOT NULL,
        detail              text NOT NULL DEFAULT '',
        reviewer            text NOT NULL DEFAULT '',
        review_requested_at timestamptz,
        confirmed_at        timestamptz NOT NULL DEFAULT now(),
        updated_at          timestamptz NOT NULL DEFAULT now()
    )""",
    """CREATE TABLE IF NOT EXISTS lab_locks (
        lab_id      text PRIMARY KEY,
        owner       text NOT NULL,
        acquired_at timestamptz NOT NULL DEFAULT now()
    )""",
)


class LabLockedError(Exception):
    """Another owner holds the lab's lock."""


@dataclass(frozen=True)
class RequestRow:
    lab_id: str
    requested_by: str
    severity: str
    ttl_hours: int


class LabStore:
    def __init__(self, database: PackDatabase) -> None:
        self.database = database

    async def confirm(self, request: RequestRow, workflow_id: str, run_id: str) -> None:
        async with self.database.transaction() as conn:
            await conn.execute(
                "INSERT INTO lab_requests (lab_id, requested_by, severity, ttl_hours, "
                "workflow_id, run_id, status) VALUES (%s, %s, %s, %s, %s, %s, 'confirmed') "
                "ON CONFLICT (lab_id) DO UPDATE SET requested_by = EXCLUDED.requested_by, "
                "severity = EXCLUDED.severity, ttl_hours = EXCLUDED.ttl_hours, "
                "workflow_id = EXCLUDED.workflow_id, run_id = EXCLUDED.run_id, "
                "status = 'confirmed', detail = '', reviewer = '', review_requested_at = NULL, "
                "confirmed_at = now(), updated_at = now() "
                "WHERE lab_requests.run_id <> EXCLUDED.run_id",  # a retry changes nothing
                [request.lab_id, request.requested_by, request.severity, request.ttl_hours,
                 workflow_id, run_id],
            )  # fmt: skip

    async def set_status(
        self, lab_id: str, run_id: str, status: str, detail: str = "", reviewer: str = ""
    ) -> None:
        async with self.database.transaction() as conn:
            await conn.execute(
                "UPDATE lab_requests SET status = %s, detail = %s, reviewer = %s, "
                "review_requested_at = CASE WHEN %s = 'awaiting_review' THEN now() "
                "ELSE review_requested_at END, updated_at = now() "
                "WHERE lab_id = %s AND run_id = %s",
                [status, detail, reviewer, status, lab_id, run_id],
            )

    async def acquire_lock(self, lab_id: str, owner: str) -> None:
        async with self.database.transaction() as conn:
            await conn.execute(
                "INSERT INTO lab_locks (lab_id, owner) VALUES (%s, %s) "
                "ON CONFLICT (lab_id) DO NOTHING",
                [lab_id, owner],
            )
            cursor = await conn.execute("SELECT owner FROM lab_locks WHERE lab_id = %s", [lab_id])
            row = await cursor.fetchone()
        holder = row[0] if row else owner
        if holder != owner:
            raise LabLockedError(f"lab {lab_id} is locked by {holder}")

    async def release_lock(self, lab_id: str, owner: str) -> None:
        async with self.database.transaction() as conn:
            await conn.execute(
                "DELETE FROM lab_locks WHERE lab_id = %s AND owner = %s", [lab_id, owner]
            )
