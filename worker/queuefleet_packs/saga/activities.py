"""Order steps and their compensations, recorded in the saga pack's PostgreSQL ledger.

Every step writes its effect as one row keyed by (order, step), so a retried step finds
its first result instead of acting twice. A compensation marks the effect it undoes as
undone; because compensations are registered before their step runs, one may arrive for
a step that never took effect, and it then undoes nothing (and says so).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Final

from psycopg.types.json import Jsonb
from temporalio import activity
from temporalio.exceptions import ApplicationError

from ..postgres import PackDatabase

__all__ = ["SCHEMA", "OrderActivities", "OrderServices", "StepFailedError", "StepInput"]

SCHEMA: Final = (
    """CREATE TABLE IF NOT EXISTS saga_effects (
        order_id   text NOT NULL,
        step       text NOT NULL,
        result     jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        undone_by  text,
        undone_at  timestamptz,
        PRIMARY KEY (order_id, step)
    )""",
)


@dataclass
class StepInput:
    order_id: str
    step: str
    data: dict[str, Any] = field(default_factory=dict)
    undoes: str | None = None  # set for compensations: the step whose effect is undone


class StepFailedError(Exception):
    """The service refused the step; the activity retries it as its policy says."""


class OrderServices:
    """The order services over the pack's database; subclass to reach real systems."""

    def __init__(self, database: PackDatabase) -> None:
        self.database = database

    async def perform(self, order_id: str, step: str, data: dict[str, Any]) -> dict[str, Any]:
        result = {"step": step, "ref": f"{step}-{order_id}", **data}
        async with self.database.transaction() as conn:
            # idempotent per order and step: a retry returns the first result
            await conn.execute(
                "INSERT INTO saga_effects (order_id, step, result) VALUES (%s, %s, %s) "
                "ON CONFLICT (order_id, step) DO NOTHING",
                [order_id, step, Jsonb(result)],
            )
            cursor = await conn.execute(
                "SELECT result FROM saga_effects WHERE order_id = %s AND step = %s",
                [order_id, step],
            )
            row = await cursor.fetchone()
        assert row is not None
        stored: dict[str, Any] = row[0] if isinstance(row[0], dict) else json.loads(row[0])
        return stored

    async def undo(self, order_id: str, step: str, compensation: str) -> dict[str, Any]:
        async with self.database.transaction() as conn:
            cursor = await conn.execute(
                "UPDATE saga_effects SET undone_by = %s, undone_at = now() "
                "WHERE order_id = %s AND step = %s AND undone_by IS NULL",
                [compensation, order_id, step],
            )
            undone = cursor.rowcount == 1
            if not undone:
                cursor = await conn.execute(
                    "SELECT undone_by FROM saga_effects WHERE order_id = %s AND step = %s",
                    [order_id, step],
                )
                row = await cursor.fetchone()
                # already undone by an earlier attempt counts as done; no row: nothing to undo
                undone = row is not None
        return {"step": compensation, "undoes": step, "had_effect": undone}


class OrderActivities:
    def __init__(self, services: OrderServices) -> None:
        self.services = services

    @activity.defn(name="saga.perform_step")
    async def perform_step(self, request: StepInput) -> dict[str, Any]:
        try:
            if request.undoes is not None:
                return await self.services.undo(request.order_id, request.undoes, request.step)
            return await self.services.perform(request.order_id, request.step, request.data)
        except StepFailedError as error:
            raise ApplicationError(str(error), type="StepFailed") from error
