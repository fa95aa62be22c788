"""The packs' PostgreSQL backend: where a pack's database is configured, and its schema.

A pack that keeps state (saga ledger, approval decisions and audit log, lab requests and
locks) reads its libpq URI from `QUEUEFLEET_<PACK>_DATABASE`, or from the file named by
`QUEUEFLEET_<PACK>_DATABASE_FILE` (a mounted Secret; read on every connection, so a
rotated password is picked up). A missing or malformed setting stops the worker at start
with one line naming the variable. Each pack creates its own tables on first use, under
an advisory lock so that several workers starting together do not race.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from queuefleet_worker.registry import RegistryError

if TYPE_CHECKING:
    import psycopg

__all__ = ["PackDatabase", "pack_database_from"]


@dataclass(frozen=True)
class PackDatabase:
    """A pack's database: connections on demand, its schema created once per process."""

    pack: str
    schema: Sequence[str]  # idempotent DDL (CREATE ... IF NOT EXISTS), run in order
    uri: str | None = field(default=None, repr=False)
    uri_file: Path | None = None
    _ready: dict[str, bool] = field(default_factory=dict, compare=False, repr=False)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, compare=False, repr=False)

    def read_uri(self) -> str:
        if self.uri is not None:
            return self.uri
        assert self.uri_file is not None
        return self.uri_file.read_text().strip()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """A connection inside one transaction: committed on success, rolled back on error."""
        import psycopg

        await self._ensure_schema()
        async with (
            await psycopg.AsyncConnection.connect(
                self.read_uri(), connect_timeout=10, application_name=f"queuefleet-{self.pack}"
            ) as conn,
            conn.transaction(),
        ):
            yield conn

    async def _ensure_schema(self) -> None:
        if self._ready.get("schema"):
            return
        import psycopg

        async with self._lock:
            if self._ready.get("schema"):
                return
            lock_key = zlib.crc32(f"queuefleet-{self.pack}-schema".encode())
            async with (
                await psycopg.AsyncConnection.connect(self.read_uri(), connect_timeout=10) as conn,
                conn.transaction(),
            ):
                await conn.execute("SELECT pg_advisory_xact_lock(%s)", [lock_key])
                for statement in self.schema:
                    await conn.execute(statement)
            self._ready["schema"] = True


def pack_database_from(
    environ: Mapping[str, str], *, pack: str, schema: Sequence[str]
) -> PackDatabase:
    """The pack's database from `QUEUEFLEET_<PACK>_DATABASE[_FILE]`; RegistryError if unset."""
    variable = f"QUEUEFLEET_{pack.upper()}_DATABASE"
    uri = environ.get(variable, "").strip()
    uri_file = environ.get(f"{variable}_FILE", "").strip()
    if uri and uri_file:
        raise RegistryError(f"{pack} pack: set {variable} or {variable}_FILE, not both")
    if uri_file:
        path = Path(uri_file)
        if not path.is_file():
            raise RegistryError(
                f"{pack} pack: {variable}_FILE: {uri_file!r} is not a readable file"
            )
        return PackDatabase(pack=pack, schema=tuple(schema), uri_file=path)
    if not uri:
        raise RegistryError(
            f"{pack} pack needs PostgreSQL: set {variable} to a libpq URI "
            f"(postgresql://user:password@host:5432/db) or {variable}_FILE to a file holding one"
        )
    if not uri.startswith(("postgresql://", "postgres://")):
        raise RegistryError(
            f"{pack} pack: {variable} must be a libpq URI starting with postgresql://"
        )
    return PackDatabase(pack=pack, schema=tuple(schema), uri=uri)


def calling_run() -> tuple[str, str]:
    """The workflow id and run id of the running activity: the packs key their rows by them."""
    from temporalio import activity

    info = activity.info()
    if not info.workflow_id or not info.workflow_run_id:
        raise RuntimeError(f"activity {info.activity_type} must run inside a workflow")
    return info.workflow_id, info.workflow_run_id
