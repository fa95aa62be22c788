"""A real PostgreSQL server (Debian's `postgresql` package) on a free loopback port.

`initdb` makes a fresh cluster under the work folder with a random password for the
`queuefleet` role (scram-sha-256, TCP on 127.0.0.1 only, no Unix socket). PostgreSQL
refuses to run as root, so under root the server runs as the `postgres` system user,
which then owns the data folder. `PostgresServer.stop` asks for a fast shutdown
(SIGINT: open sessions are ended) before falling back to the process group kill.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from .process import Process, TestbedError, free_port, port_open

__all__ = ["PostgresEndpoint", "PostgresServer", "find_postgres_bindir", "start_postgres"]

ROLE = "queuefleet"
DATABASE = "queuefleet"
SERVICE_USER = "postgres"  # who runs the server when we are root
ENV_BINDIR = "QUEUEFLEET_POSTGRES_BINDIR"
_VERSION_DIR = re.compile(r"\A\d+\Z")


@dataclass(frozen=True)
class PostgresEndpoint:
    host: str
    port: int
    user: str
    password: str
    database: str = DATABASE

    def uri(self, database: str | None = None) -> str:
        """A libpq URI for `database` (default: the endpoint's own)."""
        return (
            f"postgresql://{quote(self.user, safe='')}:{quote(self.password, safe='')}"
            f"@{self.host}:{self.port}/{quote(database or self.database, safe='')}"
        )

    def create_database(self, name: str) -> str:
        """Create an empty database (one per test keeps tests apart); returns its URI."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.uri(), autocommit=True, connect_timeout=10) as connection:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.uri(name)


@dataclass
class PostgresServer:
    process: Process
    endpoint: PostgresEndpoint
    data_dir: Path

    def stop(self, timeout: float = 20.0) -> int | None:
        if self.process.alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.popen.pid, signal.SIGINT)  # fast shutdown
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.popen.wait(timeout)
        return self.process.stop()


def find_postgres_bindir() -> Path:
    """Where `initdb` and `postgres` are: $QUEUEFLEET_POSTGRES_BINDIR, else Debian's newest."""
    configured = os.environ.get(ENV_BINDIR)
    candidates = [Path(configured)] if configured else []
    debian = Path("/usr/lib/postgresql")
    if debian.is_dir():
        versions = [p for p in debian.iterdir() if _VERSION_DIR.match(p.name)]
        candidates += [p / "bin" for p in sorted(versions, key=lambda p: int(p.name), reverse=True)]
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).parent)
    for bindir in candidates:
        if (bindir / "initdb").is_file() and (bindir / "postgres").is_file():
            return bindir
    raise TestbedError(
        "PostgreSQL server binaries (initdb, postgres) not found in /usr/lib/postgresql/*/bin "
        "or on PATH; install Debian's postgresql package (`make system-packages`) "
        f"or set {ENV_BINDIR}"
    )


def start_postgres(workdir: Path) -> PostgresServer:
    """A fresh cluster in `workdir/data`, serving on 127.0.0.1; waits until it accepts logins."""
    bindir = find_postgres_bindir()
    if workdir.exists():
        shutil.rmtree(workdir)  # a fresh cluster every time: no state leaks between runs
    workdir.mkdir(parents=True)
    data_dir = workdir / "data"
    password = secrets.token_urlsafe(18)
    password_file = workdir / "password"
    password_file.write_text(password + "\n")
    account = _service_account()
    if account is not None:
        os.chown(workdir, account.pw_uid, account.pw_gid)
        os.chown(password_file, account.pw_uid, account.pw_gid)
    password_file.chmod(0o600)
    initdb = subprocess.run(
        [
            str(bindir / "initdb"),
            "--pgdata", str(data_dir),
            "--username", ROLE,
            "--pwfile", str(password_file),
            "--auth", "scram-sha-256",
            "--encoding", "UTF8",
            "--locale", "C",
            "--no-sync",  # a throwaway cluster: durability buys nothing here
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        user=account.pw_uid if account else None,
        group=account.pw_gid if account else None,
        env=_server_env(),
    )  # fmt: skip
    password_file.unlink()
    if initdb.returncode != 0:
        raise TestbedError(f"initdb failed ({initdb.returncode}): {initdb.stderr.strip()[-2000:]}")
    port = free_port()
    log_path = workdir / "postgres.log"
    with log_path.open("ab") as log:
        popen = subprocess.Popen(
            [
                str(bindir / "postgres"),
                "-D", str(data_dir),
                "-c", "listen_addresses=127.0.0.1",
                "-c", f"port={port}",
                "-c", "unix_socket_directories=",
                "-c", "fsync=off",
                "-c", "max_connections=200",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            user=account.pw_uid if account else None,
            group=account.pw_gid if account else None,
            env=_server_env(),
        )  # fmt: skip
    process = Process(name="postgres", popen=popen, log_path=log_path)
    endpoint = PostgresEndpoint(host="127.0.0.1", port=port, user=ROLE, password=password)
    server = PostgresServer(process=process, endpoint=endpoint, data_dir=data_dir)
    try:
        process.wait_until(lambda: port_open(port), timeout=60, what="TCP port")
        process.wait_until(lambda: _accepts_login(endpoint), timeout=60, what="a login")
        _create_database(endpoint)
    except BaseException:
        server.stop()
        raise
    return server


def _service_account() -> pwd.struct_passwd | None:
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SERVICE_USER)
    except KeyError:
        raise TestbedError(
            f"running as root, and PostgreSQL refuses root: no {SERVICE_USER!r} user to run it as "
            "(Debian's postgresql package creates it)"
        ) from None


def _server_env() -> dict[str, str]:
    # No PG* variables from the caller's environment may redirect initdb or the server.
    return {k: v for k, v in os.environ.items() if not k.startswith("PG")} | {"LC_ALL": "C"}


def _accepts_login(endpoint: PostgresEndpoint) -> bool:
    import psycopg

    try:
        with psycopg.connect(endpoint.uri("postgres"), connect_timeout=2):
            return True
    except psycopg.OperationalError:
        return False


def _create_database(endpoint: PostgresEndpoint) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(endpoint.uri("postgres"), autocommit=True, connect_timeout=10) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(endpoint.database)))
