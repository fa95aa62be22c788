"""The `database` node: one SQL statement against a PostgreSQL connection named by the graph.

Connections live on the worker, never in the graph: `QUEUEFLEET_GRAPHS_DATABASE_<NAME>`
holds a libpq URI, or `QUEUEFLEET_GRAPHS_DATABASE_<NAME>_FILE` names a file holding one (a
mounted Secret; read on every use, so a rotated password is picked up). A connection is
read-only unless `QUEUEFLEET_GRAPHS_DATABASE_<NAME>_WRITABLE=true`.

The SQL text is fixed in the graph (templates are refused there by the validator); values
come from `parameters` and are always bound by the server, never formatted into the text.
Only one statement runs: it is prepared (extended protocol), which refuses a second one.
A URI's password never reaches a log line or an error message.
"""

from __future__ import annotations

import base64
import datetime
import decimal
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from temporalio import activity
from temporalio.exceptions import ApplicationError

from .limits import fit_result

__all__ = [
    "DATABASE_QUERY_ACTIVITY",
    "DEFAULT_MAX_ROWS",
    "ENV_DATABASE_PREFIX",
    "DatabaseActivities",
    "DatabaseConnection",
    "DatabaseQuery",
    "DatabaseSettingsError",
    "connections_from",
]

DATABASE_QUERY_ACTIVITY: Final = "graphs.database_query"
ENV_DATABASE_PREFIX: Final = "QUEUEFLEET_GRAPHS_DATABASE_"
DEFAULT_MAX_ROWS: Final = 1000
MAX_ROWS: Final = 100_000
_FILE_SUFFIX: Final = "_FILE"
_WRITABLE_SUFFIX: Final = "_WRITABLE"
# SQLSTATE classes that no retry can fix: bad data, constraint, read-only, syntax, privileges.
_PERMANENT_SQLSTATE_CLASSES: Final = frozenset({"22", "23", "25", "28", "2B", "3D", "42", "0A"})
_QUERY_CANCELED: Final = "57014"  # what a statement timeout raises


class DatabaseSettingsError(ValueError):
    """A `QUEUEFLEET_GRAPHS_DATABASE_*` variable is malformed; the message names it."""


@dataclass(frozen=True)
class DatabaseConnection:
    name: str
    uri: str | None = field(default=None, repr=False)  # given inline (holds a password), or
    uri_file: Path | None = None  # read from this file on every use
    writable: bool = False

    def read_uri(self) -> str:
        if self.uri is not None:
            return self.uri
        assert self.uri_file is not None
        return self.uri_file.read_text().strip()


def connections_from(environ: Mapping[str, str]) -> dict[str, DatabaseConnection]:
    """The named connections configured in `environ` (names are case-insensitive)."""
    uris: dict[str, str] = {}
    files: dict[str, str] = {}
    writable: dict[str, str] = {}
    for key, value in environ.items():
        if not key.startswith(ENV_DATABASE_PREFIX):
            continue
        rest = key[len(ENV_DATABASE_PREFIX) :]
        if rest.endswith(_WRITABLE_SUFFIX):
            writable[rest[: -len(_WRITABLE_SUFFIX)].lower()] = value
        elif rest.endswith(_FILE_SUFFIX):
            files[rest[: -len(_FILE_SUFFIX)].lower()] = value
        else:
            uris[rest.lower()] = value
    connections: dict[str, DatabaseConnection] = {}
    for name in sorted(set(uris) | set(files)):
        variable = f"{ENV_DATABASE_PREFIX}{name.upper()}"
        if not name:
            raise DatabaseSettingsError(f"{variable}: the connection needs a name after the prefix")
        if name in uris and name in files:
            raise DatabaseSettingsError(f"set {variable} or {variable}{_FILE_SUFFIX}, not both")
        if name in uris:
            if not uris[name].startswith(("postgresql://", "postgres://")):
                raise DatabaseSettingsError(
                    f"{variable} must be a libpq URI starting with postgresql://"
                )
            connections[name] = DatabaseConnection(name, uri=uris[name])
        else:
            path = Path(files[name])
            if not path.is_file():
                raise DatabaseSettingsError(
                    f"{variable}{_FILE_SUFFIX}: {str(path)!r} is not a readable file"
                )
            connections[name] = DatabaseConnection(name, uri_file=path)
    for name, flag in writable.items():
        variable = f"{ENV_DATABASE_PREFIX}{name.upper()}{_WRITABLE_SUFFIX}"
        if flag.lower() not in ("true", "false"):
            raise DatabaseSettingsError(f"{variable} must be 'true' or 'false', got {flag!r}")
        if name not in connections:
            raise DatabaseSettingsError(
                f"{variable} is set, but no {ENV_DATABASE_PREFIX}{name.upper()} connection is"
            )
        if flag.lower() == "true":
            current = connections[name]
            connections[name] = DatabaseConnection(
                name, uri=current.uri, uri_file=current.uri_file, writable=True
            )
    return connections


@dataclass
class DatabaseQuery:
    node: str
    connection: str
    sql: str
    # Bound by position (%s) from a list, or by name (%(name)s) from an object. Typed Any:
    # a union would let the payload converter turn an object into a list of its keys.
    parameters: Any = field(default_factory=list)
    timeout_seconds: float = 30.0
    max_rows: int = DEFAULT_MAX_ROWS
    max_result_bytes: int = 16 * 1024


class DatabaseActivities:
    """Runs `database` nodes over the worker's named connections."""

    def __init__(self, connections: Mapping[str, DatabaseConnection]) -> None:
        self.connections = dict(connections)

    @activity.defn(name=DATABASE_QUERY_ACTIVITY)
    async def database_query(self, query: DatabaseQuery) -> dict[str, Any]:
        import psycopg  # only workers running graph activities need it

        connection = self.connections.get(query.connection.lower())
        if connection is None:
            configured = ", ".join(sorted(self.connections)) or "none"
            raise ApplicationError(
                f"node {query.node!r}: database connection {query.connection!r} is not "
                f"configured on this worker (set {ENV_DATABASE_PREFIX}{query.connection.upper()}; "
                f"configured: {configured})",
                type="DatabaseUnknown",
                non_retryable=True,
            )
        try:
            uri = connection.read_uri()
        except OSError as error:
            raise ApplicationError(
                f"node {query.node!r}: cannot read the URI of database {connection.name!r}: "
                f"{error.strerror}",
                type="DatabaseUnavailable",
            ) from None
        try:
            result = await _run(psycopg, uri, connection, query)
        except psycopg.Error as error:
            raise _as_application_error(query, connection, uri, error) from None
        except TypeError as error:  # psycopg: placeholders and parameters do not match
            raise ApplicationError(
                f"node {query.node!r}: database {connection.name!r}: {error}",
                type="DatabaseError",
                non_retryable=True,
            ) from None
        fitted: dict[str, Any] = fit_result(result, query.max_result_bytes)
        return fitted


async def _run(
    psycopg: Any, uri: str, connection: DatabaseConnection, query: DatabaseQuery
) -> dict[str, Any]:
    timeout_ms = max(1, int(query.timeout_seconds * 1000))
    async with await psycopg.AsyncConnection.connect(
        uri, connect_timeout=max(1, int(query.timeout_seconds)), application_name="queuefleet-graph"
    ) as conn:
        await conn.set_read_only(not connection.writable)
        async with conn.transaction(), conn.cursor() as cursor:
            await cursor.execute(
                "SELECT set_config('statement_timeout', %s, true)", [str(timeout_ms)]
            )
            # Prepared, so the server binds every value and refuses a second statement even
            # when there are no parameters (psycopg would use the simple protocol then).
            await cursor.execute(query.sql, query.parameters, prepare=True)
            if cursor.description is None:
                return {"rows": [], "columns": [], "row_count": max(cursor.rowcount, 0)}
            columns = [column.name for column in cursor.description]
            fetched = await cursor.fetchmany(query.max_rows + 1)
    rows = [dict(zip(columns, map(_json_value, row), strict=True)) for row in fetched]
    result: dict[str, Any] = {
        "rows": rows[: query.max_rows],
        "columns": columns,
        "row_count": min(len(rows), query.max_rows),
    }
    if len(rows) > query.max_rows:
        result["more_rows"] = True  # capped at max_rows; the rest were not read
    return result


def _json_value(value: Any) -> Any:
    """PostgreSQL values as JSON: numbers stay numbers where exact, the rest become text."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else str(value)
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, list | tuple):
        return [_json_value(item) for item in value]
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    return str(value)


def _as_application_error(
    query: DatabaseQuery, connection: DatabaseConnection, uri: str, error: Exception
) -> ApplicationError:
    import psycopg

    sqlstate = getattr(error, "sqlstate", None) or ""
    diag = getattr(error, "diag", None)
    message = (getattr(diag, "message_primary", None) or str(error)).strip()
    message = _redact(message, uri)
    prefix = f"node {query.node!r}: database {connection.name!r}"
    if sqlstate == _QUERY_CANCELED:
        return ApplicationError(
            f"{prefix}: statement timed out after {query.timeout_seconds:g}s ({message})",
            type="DatabaseTimeout",
            non_retryable=True,
        )
    if sqlstate[:2] in _PERMANENT_SQLSTATE_CLASSES or isinstance(error, psycopg.ProgrammingError):
        detail = f" [SQLSTATE {sqlstate}]" if sqlstate else ""
        return ApplicationError(
            f"{prefix}: {message}{detail}", type="DatabaseError", non_retryable=True
        )
    # Connection trouble, deadlocks, serialization failures: a retry may succeed.
    return ApplicationError(f"{prefix}: {message}", type="DatabaseUnavailable")


def _redact(message: str, uri: str) -> str:
    from urllib.parse import unquote, urlsplit

    try:
        password = urlsplit(uri).password
    except ValueError:
        password = None
    message = message.replace(uri, "<connection URI>")
    for secret in {password, unquote(password or "")} - {None, ""}:
        assert secret is not None
        message = message.replace(secret, "***")
    return message


def database_query(
    node: str, spec: Mapping[str, Any], scope: Mapping[str, Any], *, max_result_bytes: int
) -> DatabaseQuery:
    """The activity input for a validated `database` node, parameters rendered (workflow side)."""
    from .expressions import render

    parameters = render(spec.get("parameters", []), dict(scope))
    return DatabaseQuery(
        node=node,
        connection=str(spec["connection"]),
        sql=str(spec["sql"]),
        parameters=parameters,
        timeout_seconds=float(spec.get("timeout_seconds", 30.0)),
        max_rows=int(spec.get("max_rows", DEFAULT_MAX_ROWS)),
        max_result_bytes=max_result_bytes,
    )
